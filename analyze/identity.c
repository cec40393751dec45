/* containers/<N>/config.json (the OCI runtime spec) -> the container's name, image and pod, from
 * the annotations each runtime writes: containerd's io.kubernetes.cri.*, CRI-O's io.kubernetes.*
 * and io.kubernetes.cri-o.* (docs/analyze.md). The first key present wins; a non-string value is
 * ignored. podman's org.opencontainers.image.base.name/.digest name the image the container's
 * image was built FROM (OCI annotation spec: "the image this image is based on"), not the image
 * it runs: kept as the base image only. podman's image is in the manifest (bundle.c). */
#include <string.h>
#include "analyze/util.h"
#include "common/bundle.h"
#include "common/cleanup.h"

static int first_of(json_t *ann, const char *const *keys, struct az_str *out, ai_err_t *err)
{
	for (size_t i = 0; keys[i]; i++)
		if (json_is_string(json_object_get(ann, keys[i])))
			return az_j_str(ann, keys[i], out, err);
	return 0;
}

int az_config_read(struct az_model *m, unsigned ct, const char *doc, size_t len, ai_err_t *err)
{
	if (len > AZ_MAX_SMALL_MEMBER)
		return ai_err_set(err, 0, "%s: larger than %u bytes", AI_M_CONFIG, AZ_MAX_SMALL_MEMBER);
	json_t *root cleanup_json = NULL;
	if (az_j_parse(doc, len, AI_M_CONFIG, &root, err) < 0)
		return -1;
	json_t *ann = json_object_get(root, "annotations");
	if (!json_is_object(ann))
		return 0;
	struct az_container *c = &m->cts[ct];
	static const char *const names[] = {"io.kubernetes.cri.container-name",
					    "io.kubernetes.container.name",
					    "io.kubernetes.cri-o.ContainerName", NULL};
	static const char *const images[] = {"io.kubernetes.cri.image-name", "io.kubernetes.cri-o.ImageName",
					     "org.opencontainers.image.ref.name", NULL};
	static const char *const digests[] = {"io.kubernetes.cri-o.ImageRef", NULL};
	static const char *const base_names[] = {"org.opencontainers.image.base.name", NULL};
	static const char *const base_digests[] = {"org.opencontainers.image.base.digest", NULL};
	static const char *const pods[] = {"io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name", NULL};
	static const char *const nss[] = {"io.kubernetes.cri.sandbox-namespace",
					  "io.kubernetes.pod.namespace", NULL};
	static const char *const uids[] = {"io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid", NULL};
	if (!c->name.s && first_of(ann, names, &c->name, err) < 0)
		return ai_err_wrap(err, "%s", AI_M_CONFIG);
	if (!c->image.s && first_of(ann, images, &c->image, err) < 0)
		return ai_err_wrap(err, "%s", AI_M_CONFIG);
	if (!c->image_digest.s && first_of(ann, digests, &c->image_digest, err) < 0)
		return ai_err_wrap(err, "%s", AI_M_CONFIG);
	if (!c->base_image.s && first_of(ann, base_names, &c->base_image, err) < 0)
		return ai_err_wrap(err, "%s", AI_M_CONFIG);
	if (!c->base_digest.s && first_of(ann, base_digests, &c->base_digest, err) < 0)
		return ai_err_wrap(err, "%s", AI_M_CONFIG);
	if (first_of(ann, pods, &c->pod_name, err) < 0 || first_of(ann, nss, &c->pod_namespace, err) < 0 ||
	    first_of(ann, uids, &c->pod_uid, err) < 0)
		return ai_err_wrap(err, "%s", AI_M_CONFIG);
	c->have_spec = true;
	return 0;
}
