/* Podman / CRI-O checkpoint archive -> model (see checkpoint.h). Everything in the archive is
 * hostile: every document is bounded, rootfs-diff.tar is read as a nested libarchive stream over
 * the outer member's data (nothing touches the disk), CRIU images are decoded by criu.c, which
 * only takes the few fields asked for. */
#include "analyze/checkpoint.h"
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/archive.h"
#include "analyze/ckpt_criu.h"
#include "analyze/criu.h"
#include "analyze/memory.h"
#include "analyze/model.h"
#include "analyze/util.h"
#include "common/cleanup.h"
#include "common/hash.h"

struct ck_core {
	int64_t pid;
	uint64_t state;
	bool have_state, have_creds;
	int64_t uid[4], gid[4];
	struct az_str comm;
};

/* A deleted path: from deleted.files, or an OCI whiteout in rootfs-diff.tar (containerd). */
struct ck_del {
	struct az_str path;
	bool whiteout, opaque; /* opaque: from a ".wh..wh..opq" marker */
};

struct ck_load {
	struct az_ckpt ck;
	struct az_str id, name, ann_image;
	bool have_config, have_spec, have_pstree;
	struct az_upper *up;
	size_t nup, upcap;
	struct az_mount *mounts, *binds; /* spec.dump's, bind.mounts' */
	size_t nmounts, mountcap, nbinds, bindcap;
	bool have_bind;
	struct ck_del *del;
	size_t ndel, delcap;
	struct az_ck_criu *criu;
	bool have_devshm, have_network, have_status;
	struct az_proc *procs;
	size_t nprocs, proccap;
	struct ck_core *cores;
	size_t ncores, corecap;
	int64_t newest_mtime_ns;
	struct az_criu_cmdlines *cmdlines; /* memory.c: argv out of mm, pagemap and pages */
};

static struct ck_load *ck_new(void)
{
	struct ck_load *s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->criu = az_ck_criu_new();
	s->cmdlines = az_criu_cmdlines_new();
	return s;
}

static void ck_free(struct ck_load *s)
{
	if (!s)
		return;
	az_str_free(&s->ck.image_name);
	az_str_free(&s->ck.image_id);
	az_str_free(&s->ck.runtime);
	az_str_free(&s->ck.pod);
	az_str_free(&s->ck.pod_namespace);
	az_str_free(&s->ck.kube_container);
	az_str_free(&s->ck.network);
	az_ck_criu_free(s->criu);
	for (size_t i = 0; i < s->nmounts; i++) {
		az_str_free(&s->mounts[i].mount_point);
		az_str_free(&s->mounts[i].root);
		az_str_free(&s->mounts[i].fstype);
		az_str_free(&s->mounts[i].source);
		az_str_free(&s->mounts[i].options);
	}
	free(s->mounts);
	for (size_t i = 0; i < s->nbinds; i++) {
		az_str_free(&s->binds[i].mount_point);
		az_str_free(&s->binds[i].fstype);
		az_str_free(&s->binds[i].source);
	}
	free(s->binds);
	for (size_t i = 0; i < s->ck.nargs; i++)
		az_str_free(&s->ck.args[i]);
	free(s->ck.args);
	az_str_free(&s->id);
	az_str_free(&s->name);
	az_str_free(&s->ann_image);
	for (size_t i = 0; i < s->nup; i++)
		az_upper_free(&s->up[i]);
	free(s->up);
	for (size_t i = 0; i < s->ndel; i++)
		az_str_free(&s->del[i].path);
	free(s->del);
	for (size_t i = 0; i < s->nprocs; i++)
		az_proc_free(&s->procs[i]);
	free(s->procs);
	for (size_t i = 0; i < s->ncores; i++)
		az_str_free(&s->cores[i].comm);
	free(s->cores);
	az_criu_cmdlines_free(s->cmdlines);
	free(s);
}

static void ck_freep(struct ck_load **s)
{
	ck_free(*s);
}

/* A member's name without its leading "./"s. */
static const char *member_name(const char *name)
{
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	return name;
}

/* ---- config.dump, spec.dump */

static int str_first(json_t *o, const char *const *keys, struct az_str *out, ai_err_t *err)
{
	for (size_t i = 0; keys[i]; i++) {
		json_t *v = json_object_get(o, keys[i]);
		if (json_is_string(v) && json_string_length(v))
			return az_j_strv(v, NULL, out, err);
	}
	return 0;
}

/* Set out from the first of keys present, unless out is set already (config.dump and spec.dump
 * may both carry annotations). */
static int ann_first(json_t *ann, const char *const *keys, struct az_str *out, ai_err_t *err)
{
	return out->s ? 0 : str_first(ann, keys, out, err);
}

/* The Kubernetes identity: CRI-O's annotations (io.kubernetes.pod.*, io.kubernetes.container.name,
 * io.kubernetes.cri-o.ImageName), containerd's (io.kubernetes.cri.*). */
static int read_annotations(struct ck_load *s, json_t *ann, ai_err_t *err)
{
	if (!json_is_object(ann))
		return 0;
	static const char *const pod[] = {"io.kubernetes.pod.name", "io.kubernetes.cri.sandbox-name", NULL};
	static const char *const ns[] = {"io.kubernetes.pod.namespace", "io.kubernetes.cri.sandbox-namespace",
					 NULL};
	static const char *const ctr[] = {"io.kubernetes.container.name", "io.kubernetes.cri.container-name",
					  NULL};
	static const char *const img[] = {"io.kubernetes.cri-o.ImageName", "io.kubernetes.cri.image-name",
					  NULL};
	if (ann_first(ann, pod, &s->ck.pod, err) < 0 || ann_first(ann, ns, &s->ck.pod_namespace, err) < 0 ||
	    ann_first(ann, ctr, &s->ck.kube_container, err) < 0 ||
	    ann_first(ann, img, &s->ann_image, err) < 0)
		return ai_err_wrap(err, "annotations");
	const char *mgr = json_string_value(json_object_get(ann, "io.container.manager"));
	const char *engine = mgr && !strcmp(mgr, "libpod")				? "Podman"
			     : json_object_get(ann, "io.kubernetes.cri.container-name") ? "containerd"
			     : json_object_get(ann, "io.kubernetes.cri-o.ContainerType") ||
				     json_object_get(ann, "io.kubernetes.pod.name")
				 ? "CRI-O"
				 : NULL;
	if (engine && !s->ck.engine[0])
		snprintf(s->ck.engine, sizeof(s->ck.engine), "%s", engine);
	return 0;
}

/* network.status (Podman): {"NETWORK": {"interfaces": {"IFACE": {"subnets": [{"ipnet",
 * "gateway"}], "mac_address"}}}}, one line per subnet into ck.network. */
static int read_network(struct ck_load *s, const char *doc, size_t len, ai_err_t *err)
{
	json_t *j cleanup_json = NULL;
	if (az_j_parse(doc, len, "network.status", &j, err) < 0)
		return -1;
	if (!json_is_object(j))
		return 0; /* older podman wrote a list of CNI results: not read */
	cleanup_buf struct ai_buf b;
	ai_buf_init(&b);
	const char *net, *ifn;
	json_t *nv, *iv;
	json_object_foreach(j, net, nv)
	{
		json_object_foreach(json_object_get(nv, "interfaces"), ifn, iv)
		{
			const char *mac = json_string_value(json_object_get(iv, "mac_address"));
			json_t *sub = json_object_get(iv, "subnets");
			for (size_t i = 0; i < json_array_size(sub) && b.len < (1u << 20); i++) {
				json_t *x = json_array_get(sub, i);
				const char *ip = json_string_value(json_object_get(x, "ipnet"));
				const char *gw = json_string_value(json_object_get(x, "gateway"));
				ai_buf_printf(&b, "%s %s%s%s%s%s\n", ifn, ip ? ip : "-", gw ? " gw " : "",
					      gw ? gw : "", mac ? " mac " : "", mac ? mac : "");
			}
		}
	}
	if (b.len && !memchr(b.data, '\0', b.len))
		az_str_set(&s->ck.network, b.data, b.len);
	return 0;
}

static int read_config(struct ck_load *s, const char *doc, size_t len, ai_err_t *err)
{
	json_t *j cleanup_json = NULL;
	if (az_j_parse(doc, len, "config.dump", &j, err) < 0)
		return -1;
	if (!json_is_object(j))
		return ai_err_set(err, 0, "config.dump: not an object");
	/* podman: rootfsImageName, RawImageName, rootfsImageID; CRI-O: rootfsImageName, rootfsImage,
	 * rootfsImageRef */
	static const char *const img[] = {"rootfsImageName", "RawImageName", "rootfsImage", NULL};
	static const char *const imgid[] = {"rootfsImageRef", "rootfsImageID", NULL};
	static const char *const rt[] = {"runtime", "OCIRuntime", NULL};
	if (az_j_str(j, "id", &s->id, err) < 0 || az_j_str(j, "name", &s->name, err) < 0 ||
	    str_first(j, img, &s->ck.image_name, err) < 0 || str_first(j, imgid, &s->ck.image_id, err) < 0 ||
	    str_first(j, rt, &s->ck.runtime, err) < 0)
		return ai_err_wrap(err, "config.dump");
	s->ck.created_ns = az_time_parse(json_string_value(json_object_get(j, "createdTime")));
	s->ck.checkpointed_ns = az_time_parse(json_string_value(json_object_get(j, "checkpointedTime")));
	return read_annotations(s, json_object_get(j, "annotations"), err) < 0
		   ? ai_err_wrap(err, "config.dump")
		   : 0;
}

#define AZ_CK_MAX_MOUNTS 10000u /* deduplicated by a scan: bounded small */

/* One mount of spec.dump's "mounts" ({destination, type, source, options[]}) or (type "bind")
 * of CRI-O's bind.mounts ({source, destination, file_type, permissions}), which repeats
 * spec.dump's bind mounts: its own are added after the pass (finish_mounts). */
static int mount_add(struct ck_load *s, json_t *o, const char *type, ai_err_t *err)
{
	json_t *dst = json_object_get(o, "destination");
	if (!json_is_object(o) || !json_is_string(dst))
		return ai_err_set(err, 0, "a mount without a destination");
	struct az_mount **v = type ? &s->binds : &s->mounts;
	size_t *n = type ? &s->nbinds : &s->nmounts, *cap = type ? &s->bindcap : &s->mountcap;
	if (*n >= AZ_CK_MAX_MOUNTS)
		return ai_err_set(err, 0, "more than %u mounts", AZ_CK_MAX_MOUNTS);
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = realloc(*v, *cap * sizeof(**v));
		if (!*v)
			abort();
	}
	struct az_mount *m = &(*v)[(*n)++];
	memset(m, 0, sizeof(*m));
	m->id = (int64_t)*n;
	m->parent = -1;
	cleanup_buf struct ai_buf opt;
	ai_buf_init(&opt);
	json_t *ov = json_object_get(o, "options");
	for (size_t i = 0; i < json_array_size(ov); i++)
		if (json_is_string(json_array_get(ov, i)))
			ai_buf_printf(&opt, "%s%s", opt.len ? "," : "",
				      json_string_value(json_array_get(ov, i)));
	if (az_j_strv(dst, NULL, &m->mount_point, err) < 0 || az_j_str(o, "source", &m->source, err) < 0)
		return -1;
	if (type)
		az_str_set(&m->fstype, type, strlen(type));
	else if (az_j_str(o, "type", &m->fstype, err) < 0)
		return -1;
	if (opt.len && !memchr(opt.data, '\0', opt.len))
		az_str_set(&m->options, opt.data, opt.len);
	return 0;
}

static int read_mounts(struct ck_load *s, json_t *arr, const char *what, const char *type, ai_err_t *err)
{
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (mount_add(s, json_array_get(arr, i), type, err) < 0)
			return ai_err_wrap(err, "%s[%zu]", what, i);
	return 0;
}

static int read_bind_mounts(struct ck_load *s, const char *doc, size_t len, ai_err_t *err)
{
	json_t *j cleanup_json = NULL;
	if (az_j_parse(doc, len, "bind.mounts", &j, err) < 0)
		return -1;
	if (!json_is_array(j) && !json_is_null(j))
		return ai_err_set(err, 0, "bind.mounts: not a JSON array");
	return read_mounts(s, j, "bind.mounts", "bind", err);
}

static int read_spec(struct ck_load *s, const char *doc, size_t len, ai_err_t *err)
{
	json_t *j cleanup_json = NULL;
	if (az_j_parse(doc, len, "spec.dump", &j, err) < 0)
		return -1;
	if (!json_is_object(j))
		return ai_err_set(err, 0, "spec.dump: not an object");
	if (read_annotations(s, json_object_get(j, "annotations"), err) < 0 ||
	    read_mounts(s, json_object_get(j, "mounts"), "mounts", NULL, err) < 0)
		return ai_err_wrap(err, "spec.dump");
	json_t *args = json_object_get(json_object_get(j, "process"), "args");
	if (!json_is_array(args))
		return 0;
	size_t n = json_array_size(args);
	if (n > 1000000)
		return ai_err_set(err, 0, "spec.dump: process.args: too many arguments");
	s->ck.args = calloc(n ? n : 1, sizeof(*s->ck.args));
	if (!s->ck.args)
		abort();
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(args, i);
		if (!json_is_string(v))
			return ai_err_set(err, 0, "spec.dump: process.args[%zu]: not a string", i);
		s->ck.nargs = i + 1;
		if (az_j_strv(v, NULL, &s->ck.args[i], err) < 0)
			return ai_err_wrap(err, "spec.dump: process.args[%zu]", i);
	}
	return 0;
}

/* ---- deleted.files: a JSON array of absolute paths */

/* A deleted path, made absolute, trailing slashes dropped; unusable ones are counted. */
static void del_add(struct ck_load *s, const char *p, size_t l, bool whiteout)
{
	while (l > 1 && p[l - 1] == '/')
		l--;
	if (!l || l > AZ_MAX_PATH || memchr(p, '\0', l) || (l == 1 && p[0] == '/')) {
		s->ck.skipped++;
		return;
	}
	if (s->ndel == s->delcap) {
		s->delcap = s->delcap ? s->delcap * 2 : 16;
		s->del = realloc(s->del, s->delcap * sizeof(*s->del));
		if (!s->del)
			abort();
	}
	struct ck_del *d = &s->del[s->ndel++];
	memset(d, 0, sizeof(*d));
	d->whiteout = whiteout;
	char *t = malloc(l + 2);
	if (!t)
		abort();
	size_t o = p[0] == '/' ? 0 : 1;
	t[0] = '/';
	memcpy(t + o, p, l);
	az_str_set(&d->path, t, l + o);
	free(t);
}

static int read_deleted(struct ck_load *s, const char *doc, size_t len, ai_err_t *err)
{
	json_t *j cleanup_json = NULL;
	if (az_j_parse(doc, len, "deleted.files", &j, err) < 0)
		return -1;
	if (json_is_null(j))
		return 0; /* podman writes null for none */
	if (!json_is_array(j))
		return ai_err_set(err, 0, "deleted.files: not a JSON array");
	size_t n = json_array_size(j);
	if (n > AZ_MAX_MEMBERS || s->ndel + n > AZ_MAX_MEMBERS)
		return ai_err_set(err, 0, "deleted.files: more than %u paths", AZ_MAX_MEMBERS);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(j, i);
		if (!json_is_string(v))
			return ai_err_set(err, 0, "deleted.files[%zu]: not a string", i);
		del_add(s, json_string_value(v), json_string_length(v), false);
	}
	return 0;
}

/* ---- rootfs-diff.tar: a tar inside the outer member, read through callbacks */

static struct az_upper *up_add(struct ck_load *s)
{
	if (s->nup == s->upcap) {
		s->upcap = s->upcap ? s->upcap * 2 : 64;
		s->up = realloc(s->up, s->upcap * sizeof(*s->up));
		if (!s->up)
			abort();
	}
	struct az_upper *u = &s->up[s->nup++];
	memset(u, 0, sizeof(*u));
	u->uid = u->gid = u->size = u->ino = u->nlink = -1;
	return u;
}

/* "./a/b/", "/a/b", "a/b" -> "/a/b"; "" for the root itself. */
static bool norm_name(const char *name, struct ai_buf *out)
{
	ai_buf_reset(out);
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	while (name[0] == '/')
		name++;
	size_t l = strlen(name);
	while (l && name[l - 1] == '/')
		l--;
	if (l == 1 && name[0] == '.')
		l = 0;
	if (!l)
		return false;
	ai_buf_addc(out, '/');
	ai_buf_add(out, name, l);
	ai_buf_cstr(out);
	return true;
}

/* An OCI whiteout (containerd writes rootfs-diff.tar as a layer): ".wh.NAME" deletes NAME,
 * ".wh..wh..opq" makes its directory opaque; both read as deleted.files paths would. true when
 * p (a normalized path) was one. */
static bool layer_whiteout(struct ck_load *s, const struct ai_buf *p)
{
	const char *base = strrchr(p->data, '/') + 1;
	if (strncmp(base, ".wh.", 4))
		return false;
	size_t dl = (size_t)(base - p->data) - 1; /* the parent, without its slash */
	s->ck.layer_whiteouts = true;
	if (!strcmp(base, ".wh..wh..opq")) {
		size_t n = s->ndel;
		del_add(s, dl ? p->data : "/", dl ? dl : 1, true);
		if (s->ndel > n)
			s->del[n].opaque = true;
		return true;
	}
	cleanup_buf struct ai_buf t;
	ai_buf_init(&t);
	ai_buf_add(&t, p->data, dl);
	ai_buf_addc(&t, '/');
	ai_buf_adds(&t, base + 4);
	if (!base[4])
		s->ck.skipped++;
	else
		del_add(s, t.data, t.len, true);
	return true;
}

/* rootfs-diff.tar (prefix "") or devshm-checkpoint.tar (prefix "/dev/shm"), either compressed. */
static int read_rootfs_diff(struct ck_load *s, struct archive *outer, const char *member, const char *prefix,
			    ai_err_t *err)
{
	struct az_membersrc *in = malloc(sizeof(*in));
	if (!in)
		abort();
	struct archive *a cleanup_archive = archive_read_new();
	if (!a)
		abort();
	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	if (az_membersrc_open(a, in, outer) != ARCHIVE_OK) {
		ai_err_set(err, 0, "%s: %s", member,
			   archive_error_string(a) ? archive_error_string(a) : "cannot open");
		free(in);
		return -1;
	}
	cleanup_buf struct ai_buf p;
	ai_buf_init(&p);
	struct archive_entry *e;
	size_t count = 0;
	int r, rc = 0;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (++count > AZ_MAX_MEMBERS) {
			rc = ai_err_set(err, 0, "%s: more than %u entries", member, AZ_MAX_MEMBERS);
			break;
		}
		const char *name = archive_entry_pathname(e);
		if (!name) {
			s->ck.skipped++;
			continue;
		}
		if (!norm_name(name, &p))
			continue; /* the root directory */
		if (!*prefix && layer_whiteout(s, &p))
			continue;
		if (*prefix) {
			cleanup_buf struct ai_buf q;
			ai_buf_init(&q);
			ai_buf_adds(&q, prefix);
			ai_buf_add(&q, p.data, p.len);
			ai_buf_reset(&p);
			ai_buf_add(&p, q.data, q.len);
			ai_buf_cstr(&p);
			s->ck.devshm_files++;
		}
		if (p.len > AZ_MAX_PATH) {
			s->ck.skipped++;
			continue;
		}
		struct az_upper *u = up_add(s);
		az_str_set(&u->path, p.data, p.len);
		const char *hl = archive_entry_hardlink(e);
		switch (archive_entry_filetype(e)) {
		case AE_IFREG:
			u->type = AZ_U_FILE;
			break;
		case AE_IFDIR:
			u->type = AZ_U_DIR;
			break;
		case AE_IFLNK:
			u->type = AZ_U_SYMLINK;
			break;
		case AE_IFIFO:
			u->type = AZ_U_FIFO;
			break;
		case AE_IFSOCK:
			u->type = AZ_U_SOCKET;
			break;
		case AE_IFCHR:
			u->type = AZ_U_CHR;
			break;
		case AE_IFBLK:
			u->type = AZ_U_BLK;
			break;
		default:
			u->type = hl ? AZ_U_FILE : AZ_U_OTHER;
			break;
		}
		/* a 0/0 character device is how some tools write a whiteout into a diff tar */
		if (u->type == AZ_U_CHR && archive_entry_rdev(e) == 0) {
			u->type = AZ_U_WHITEOUT;
			u->overlay |= AZ_OV_WHITEOUT;
		}
		u->mode = (uint32_t)archive_entry_perm(e) & 07777;
		u->uid = archive_entry_uid(e);
		u->gid = archive_entry_gid(e);
		if (archive_entry_mtime_is_set(e))
			u->mtime_ns =
			    (int64_t)archive_entry_mtime(e) * 1000000000 + archive_entry_mtime_nsec(e);
		if (archive_entry_atime_is_set(e))
			u->atime_ns =
			    (int64_t)archive_entry_atime(e) * 1000000000 + archive_entry_atime_nsec(e);
		if (archive_entry_ctime_is_set(e))
			u->ctime_ns =
			    (int64_t)archive_entry_ctime(e) * 1000000000 + archive_entry_ctime_nsec(e);
		az_str_set(&u->member, member, strlen(member));
		if (hl) {
			cleanup_buf struct ai_buf t;
			ai_buf_init(&t);
			if (norm_name(hl, &t) && t.len <= AZ_MAX_PATH)
				az_str_set(&u->hardlink_to, t.data, t.len);
			/* content: that of the first link, found after the pass (ck_finish) */
			u->size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
			continue;
		}
		if (u->type == AZ_U_SYMLINK) {
			const char *tg = archive_entry_symlink(e);
			az_str_set(&u->target, tg ? tg : "", tg ? strlen(tg) : 0);
			u->size = tg ? (int64_t)strlen(tg) : 0;
			continue;
		}
		if (u->type != AZ_U_FILE) {
			u->size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
			continue;
		}
		struct ai_hash h;
		if (ai_hash_init_sha256(&h, err) < 0) {
			rc = -1;
			break;
		}
		const void *buf;
		size_t size;
		la_int64_t off;
		int64_t total = 0;
		int dr;
		while ((dr = archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK) {
			ai_hash_update(&h, buf, size);
			total += (int64_t)size;
		}
		if (dr != ARCHIVE_EOF) {
			ai_hash_free(&h);
			rc = ai_err_set(err, 0, "%s: %s: %s", member, p.data,
					archive_error_string(a) ? archive_error_string(a) : "read error");
			break;
		}
		uint8_t d[32];
		if (ai_hash_final(&h, d, err) < 0) {
			rc = -1;
			break;
		}
		ai_hex(d, 32, u->sha256);
		u->size = total;
		if (archive_entry_size_is_set(e) && archive_entry_size(e) != total)
			u->truncated = true;
	}
	if (!rc && r != ARCHIVE_EOF)
		rc = ai_err_set(err, 0, "%s: unreadable after %zu entries: %s", member, count,
				archive_error_string(a) ? archive_error_string(a) : "error");
	archive_read_free(a);
	a = NULL;
	free(in);
	return rc;
}

/* ---- CRIU images (criu.c) */

static int pstree_entry(void *ud, size_t index, const struct az_criu_pstree *x, ai_err_t *err)
{
	struct ck_load *s = ud;
	if (index >= AZ_CK_MAX_PROCS)
		return ai_err_set(err, 0, "more than %u processes", AZ_CK_MAX_PROCS);
	if (s->nprocs == s->proccap) {
		s->proccap = s->proccap ? s->proccap * 2 : 64;
		s->procs = realloc(s->procs, s->proccap * sizeof(*s->procs));
		if (!s->procs)
			abort();
	}
	struct az_proc *p = &s->procs[s->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = p->nspid = x->pid;
	p->ppid = x->ppid;
	p->exe_size = -1;
	for (int k = 0; k < 4; k++)
		p->uid[k] = p->gid[k] = -1;
	p->threads = x->threads;
	return 0;
}

static int read_pstree(struct ck_load *s, const uint8_t *d, size_t len, ai_err_t *err)
{
	if (az_criu_pstree_read(d, len, pstree_entry, s, err) < 0)
		return ai_err_wrap(err, "checkpoint/pstree.img");
	s->have_pstree = true;
	return 0;
}

static int read_core(struct ck_load *s, int64_t pid, const uint8_t *d, size_t len, ai_err_t *err)
{
	struct az_criu_core x;
	if (az_criu_core_read(d, len, &x, err) < 0)
		return ai_err_wrap(err, "checkpoint/core-%lld.img", (long long)pid);
	if (s->ncores == s->corecap) {
		s->corecap = s->corecap ? s->corecap * 2 : 64;
		s->cores = realloc(s->cores, s->corecap * sizeof(*s->cores));
		if (!s->cores)
			abort();
	}
	struct ck_core *c = &s->cores[s->ncores++];
	memset(c, 0, sizeof(*c));
	c->pid = pid;
	c->state = x.state;
	c->have_state = x.have_state;
	c->have_creds = x.have_creds;
	memcpy(c->uid, x.uid, sizeof(c->uid));
	memcpy(c->gid, x.gid, sizeof(c->gid));
	if (x.comm)
		az_str_set(&c->comm, (const char *)x.comm, x.comm_len);
	return 0;
}

/* ---- the outer archive's members */

static bool core_pid(const char *base, int64_t *pid)
{
	if (strncmp(base, "core-", 5))
		return false;
	const char *p = base + 5;
	int64_t x = 0;
	size_t nd = 0;
	for (; *p >= '0' && *p <= '9' && nd < 10; p++, nd++)
		x = x * 10 + (*p - '0');
	if (!nd || strcmp(p, ".img"))
		return false;
	*pid = x;
	return true;
}

/* One member of the archive: 1 when it was a checkpoint member (read), 0 when not, -1 (err set)
 * when it was one and is malformed. */
static int ck_member(struct ck_load *s, struct archive *a, struct archive_entry *e, ai_err_t *err)
{
	const char *name = archive_entry_pathname(e);
	if (!name)
		return 0;
	if (archive_entry_mtime_is_set(e)) {
		int64_t t = (int64_t)archive_entry_mtime(e) * 1000000000 + archive_entry_mtime_nsec(e);
		if (t > s->newest_mtime_ns)
			s->newest_mtime_ns = t;
	}
	name = member_name(name);
	if (!strncmp(name, "checkpoint/", 11) && name[11])
		s->ck.criu_images++;
	if (archive_entry_filetype(e) != AE_IFREG)
		return 0;
	cleanup_free char *doc = NULL;
	size_t len;
	if (!strcmp(name, "config.dump") || !strcmp(name, "spec.dump") || !strcmp(name, "deleted.files")) {
		bool *seen = name[0] == 'c'   ? &s->have_config
			     : name[0] == 's' ? &s->have_spec
					      : &s->ck.have_deleted;
		if (*seen)
			return ai_err_set(err, 0, "member %s appears twice", name);
		*seen = true;
		if (az_read_member(a, e, name[0] == 'd' ? AZ_MAX_JSON_MEMBER : AZ_CK_MAX_DOC, &doc, &len,
				   err) < 0)
			return -1;
		int r = name[0] == 'c'	 ? read_config(s, doc, len, err)
			: name[0] == 's' ? read_spec(s, doc, len, err)
					 : read_deleted(s, doc, len, err);
		return r < 0 ? -1 : 1;
	}
	if (!strcmp(name, "rootfs-diff.tar")) {
		if (s->ck.have_rootfs_diff)
			return ai_err_set(err, 0, "member %s appears twice", name);
		s->ck.have_rootfs_diff = true;
		return read_rootfs_diff(s, a, "rootfs-diff.tar", "", err) < 0 ? -1 : 1;
	}
	if (!strcmp(name, "devshm-checkpoint.tar")) {
		if (s->have_devshm)
			return ai_err_set(err, 0, "member %s appears twice", name);
		s->have_devshm = true;
		return read_rootfs_diff(s, a, name, "/dev/shm", err) < 0 ? -1 : 1;
	}
	if (!strcmp(name, "bind.mounts")) {
		if (s->have_bind)
			return ai_err_set(err, 0, "member %s appears twice", name);
		s->have_bind = true;
		if (az_read_member(a, e, AZ_CK_MAX_DOC, &doc, &len, err) < 0)
			return -1;
		return read_bind_mounts(s, doc, len, err) < 0 ? -1 : 1;
	}
	if (!strcmp(name, "network.status")) {
		if (s->have_network)
			return ai_err_set(err, 0, "member %s appears twice", name);
		s->have_network = true;
		if (az_read_member(a, e, AZ_CK_MAX_DOC, &doc, &len, err) < 0)
			return -1;
		return read_network(s, doc, len, err) < 0 ? -1 : 1;
	}
	if (!strcmp(name, "status") || !strcmp(name, "status.dump")) {
		s->have_status = true; /* containerd's: the CRI container status, not read further */
		return 1;
	}
	if (!strcmp(name, "checkpoint/pstree.img")) {
		if (s->have_pstree)
			return ai_err_set(err, 0, "member %s appears twice", name);
		if (az_read_member(a, e, AZ_CK_MAX_PSTREE, &doc, &len, err) < 0)
			return -1;
		return read_pstree(s, (const uint8_t *)doc, len, err) < 0 ? -1 : 1;
	}
	if (!strncmp(name, "checkpoint/", 11) && az_criu_cmdlines_member(s->cmdlines, a, name + 11))
		return 1;
	int64_t pid;
	if (!strncmp(name, "checkpoint/", 11)) {
		int r = az_ck_criu_member(s->criu, name + 11, a, e, err);
		if (r)
			return r;
	}
	if (!strncmp(name, "checkpoint/", 11) && core_pid(name + 11, &pid)) {
		if (s->ncores >= AZ_CK_MAX_PROCS)
			return ai_err_set(err, 0, "more than %u CRIU core images", AZ_CK_MAX_PROCS);
		if (az_read_member(a, e, AZ_MAX_SMALL_MEMBER, &doc, &len, err) < 0)
			return -1;
		return read_core(s, pid, (const uint8_t *)doc, len, err) < 0 ? -1 : 1;
	}
	return 0;
}

/* ---- finishing: whiteouts, opaque directories, processes */

static int cmp_upper(const void *x, const void *y)
{
	const struct az_upper *a = x, *b = y;
	size_t n = a->path.len < b->path.len ? a->path.len : b->path.len;
	int c = memcmp(a->path.s, b->path.s, n);
	return c ? c : (a->path.len > b->path.len) - (a->path.len < b->path.len);
}

static int cmp_core(const void *x, const void *y)
{
	const struct ck_core *a = x, *b = y;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

static int cmp_proc(const void *x, const void *y)
{
	const struct az_proc *a = x, *b = y;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

/* qsort, for arrays that may be empty (and NULL, which qsort may not be given) */
static void sort(void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n)
		qsort(v, n, size, cmp);
}

/* Binary search in the path-sorted entries [0, n): the first index whose path is >= (p, l). */
static size_t lower_bound(const struct az_upper *u, size_t n, const char *p, size_t l)
{
	size_t lo = 0, hi = n;
	struct az_upper key = {.path = {(char *)p, l}};
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_upper(&u[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void finish_upper(struct ck_load *s)
{
	size_t nfiles = s->nup;
	sort(s->up, nfiles, sizeof(*s->up), cmp_upper);
	/* hardlinks: the content of the first link */
	for (size_t i = 0; i < nfiles; i++) {
		struct az_upper *u = &s->up[i];
		if (!u->hardlink_to.s)
			continue;
		size_t k = lower_bound(s->up, nfiles, u->hardlink_to.s, u->hardlink_to.len);
		if (k < nfiles && az_str_eq(&s->up[k].path, &u->hardlink_to) && !s->up[k].hardlink_to.s &&
		    s->up[k].type == AZ_U_FILE) {
			memcpy(u->sha256, s->up[k].sha256, sizeof(u->sha256));
			u->size = s->up[k].size;
			u->truncated = s->up[k].truncated;
		}
	}
	/* deleted.files: a whiteout each, unless the path is back in rootfs-diff.tar (deleted, then
	 * re-created): a directory there, or one implied by entries below it, was replaced as a whole
	 * (overlayfs makes it opaque), so it is read as an opaque directory; a re-created non-directory
	 * simply stands as the entry it is. */
	for (size_t i = 0; i < s->ndel; i++) {
		const struct az_str *d = &s->del[i].path;
		bool wh = s->del[i].whiteout;
		size_t k = lower_bound(s->up, nfiles, d->s, d->len);
		bool same = k < nfiles && az_str_eq(&s->up[k].path, d);
		size_t kb = same ? k + 1 : k;
		bool below = kb < nfiles && s->up[kb].path.len > d->len &&
			     !memcmp(s->up[kb].path.s, d->s, d->len) && s->up[kb].path.s[d->len] == '/';
		if (same && s->up[k].type == AZ_U_DIR) {
			s->up[k].overlay |= AZ_OV_OPAQUE;
			s->ck.opaque++;
			continue;
		}
		if (same)
			continue;
		struct az_upper *u = up_add(s); /* may move s->up: nothing above holds a pointer */
		az_str_set(&u->path, d->s, d->len);
		/* from an OCI whiteout: the tar header's times are the tool's, not the deletion's */
		if (wh)
			az_str_set(&u->member, "rootfs-diff.tar", 15);
		else
			az_str_set(&u->member, "deleted.files", 13);
		if (below || s->del[i].opaque) {
			u->type = AZ_U_DIR;
			u->overlay = AZ_OV_OPAQUE;
			s->ck.opaque++;
		} else {
			u->type = AZ_U_WHITEOUT;
			u->overlay = AZ_OV_WHITEOUT;
		}
	}
	/* parents before children, for the attribution's opaque-ancestor check */
	sort(s->up, s->nup, sizeof(*s->up), cmp_upper);
}

/* The arguments as the process's memory held them (mm_arg_start .. mm_arg_end), NUL-separated. */
static void set_argv(struct ck_load *s, struct az_proc *p)
{
	size_t len;
	const uint8_t *d = az_criu_mm_cmdline(s->cmdlines, p->pid, &len);
	if (!d || p->argv)
		return;
	while (len && !d[len - 1])
		len--;
	size_t n = len ? 1 : 0;
	for (size_t i = 0; i < len; i++)
		n += !d[i];
	if (!n)
		return;
	p->argv = calloc(n, sizeof(*p->argv));
	if (!p->argv)
		abort();
	for (size_t i = 0, a = 0; a < n; a++) {
		const uint8_t *z = memchr(d + i, 0, len - i);
		size_t l = z ? (size_t)(z - (d + i)) : len - i;
		az_str_set(&p->argv[a], (const char *)d + i, l);
		i += l + 1;
	}
	p->argc = n;
}

static void finish_procs(struct ck_load *s)
{
	if (!s->have_pstree)
		return;
	sort(s->cores, s->ncores, sizeof(*s->cores), cmp_core);
	sort(s->procs, s->nprocs, sizeof(*s->procs), cmp_proc);
	for (size_t i = 0; i < s->nprocs; i++) {
		struct az_proc *p = &s->procs[i];
		size_t lo = 0, hi = s->ncores;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (s->cores[mid].pid < p->pid)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == s->ncores || s->cores[lo].pid != p->pid)
			continue;
		struct ck_core *c = &s->cores[lo];
		if (c->comm.s) {
			p->comm = c->comm;
			c->comm.s = NULL;
			c->comm.len = 0;
		}
		if (c->have_state) {
			/* CRIU task states: 1 alive, 2 dead, 3 stopped, 6 zombie */
			const char *st = c->state == 1	 ? "alive"
					 : c->state == 3 ? "T"
					 : c->state == 6 ? "Z"
					 : c->state == 2 ? "X"
							 : "?";
			snprintf(p->state, sizeof(p->state), "%s", st);
			p->zombie = c->state == 6;
		}
		if (c->have_creds) {
			memcpy(p->uid, c->uid, sizeof(p->uid));
			memcpy(p->gid, c->gid, sizeof(p->gid));
		}
		set_argv(s, p);
	}
	s->ck.procs_decoded = true;
}

/* bind.mounts' destinations that spec.dump does not have, after spec.dump's (a scan: both are
 * bounded by AZ_CK_MAX_MOUNTS). */
static void finish_mounts(struct ck_load *s)
{
	for (size_t i = 0; i < s->nbinds; i++) {
		struct az_mount *b = &s->binds[i];
		bool dup = false;
		for (size_t k = 0; k < s->nmounts && !dup; k++)
			dup = az_str_eq(&s->mounts[k].mount_point, &b->mount_point);
		if (dup)
			continue;
		if (s->nmounts == s->mountcap) {
			s->mountcap = s->mountcap ? s->mountcap * 2 : 16;
			s->mounts = realloc(s->mounts, s->mountcap * sizeof(*s->mounts));
			if (!s->mounts)
				abort();
		}
		s->mounts[s->nmounts] = *b;
		s->mounts[s->nmounts].id = (int64_t)s->nmounts + 1;
		s->nmounts++;
		memset(b, 0, sizeof(*b));
	}
}

/* Move what was read into m (which holds nothing else yet). */
static void ck_finish(struct ck_load *s, struct az_model *m)
{
	finish_upper(s);
	finish_procs(s);
	if (!s->ck.checkpointed_ns) {
		s->ck.checkpointed_ns = s->newest_mtime_ns;
		s->ck.checkpointed_from_mtime = s->newest_mtime_ns != 0;
	}
	if (!s->ck.image_name.s && s->ann_image.s) {
		s->ck.image_name = s->ann_image;
		memset(&s->ann_image, 0, sizeof(s->ann_image));
	}
	if (!s->ck.engine[0] && (s->have_status || s->ck.layer_whiteouts))
		snprintf(s->ck.engine, sizeof(s->ck.engine), "containerd");
	s->ck.present = true;
	m->ck = s->ck;
	memset(&s->ck, 0, sizeof(s->ck));
	m->man.name = s->name;
	m->man.container_id = s->id;
	memset(&s->name, 0, sizeof(s->name));
	memset(&s->id, 0, sizeof(s->id));
	az_str_set(&m->man.trigger, "checkpoint", 10);
	m->man.started_ns = m->man.ended_ns = m->ck.checkpointed_ns;
	m->man.target_pid = -1;
	m->man.complete = true;
	m->have[AZ_HAVE_MANIFEST] = true;
	if (m->ck.have_rootfs_diff || m->ck.have_deleted) {
		m->upper = s->up;
		m->nupper = s->nup;
		s->up = NULL;
		s->nup = 0;
		m->have[AZ_HAVE_UPPER] = true;
	}
	if (m->ck.procs_decoded) {
		m->procs = s->procs;
		m->nprocs = s->nprocs;
		s->procs = NULL;
		s->nprocs = 0;
		m->have[AZ_HAVE_PROCS] = true;
	}
	finish_mounts(s);
	if (s->nmounts) {
		m->mounts = s->mounts;
		m->nmounts = s->nmounts;
		s->mounts = NULL;
		s->nmounts = 0;
		m->have[AZ_HAVE_MOUNTS] = true;
	}
	az_ck_criu_finish(s->criu, m);
}

/* ---- the reader */

/* config.dump or spec.dump marks a checkpoint archive. */
static bool ck_probe(struct archive *a, struct archive_entry *e)
{
	(void)a;
	const char *name = archive_entry_pathname(e);
	if (!name || archive_entry_filetype(e) != AE_IFREG)
		return false;
	name = member_name(name);
	return !strcmp(name, "config.dump") || !strcmp(name, "spec.dump");
}

/* An archive that stores the pages images before their mm and pagemap (tar of a directory in
 * readdir order) gets its command lines from a second read of the pages only. Best effort: the
 * first pass already read the whole archive, so a failure here only leaves comm in ps. A
 * checkpoint read from inside a sealed bundle has no checkpoint/ members at the top: no pass. */
static void cmdlines_second_pass(struct ck_load *s, const char *path)
{
	if (!az_criu_cmdlines_pending(s->cmdlines))
		return;
	cleanup_archive struct archive *a = NULL;
	ai_err_t err;
	if (az_tar_open_file(&a, path, true, &err) < 0)
		return;
	struct archive_entry *e;
	size_t count = 0;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(e);
		if (++count > AZ_MAX_MEMBERS)
			break;
		if (name && !strncmp(name, "checkpoint/pages-", 17))
			az_criu_cmdlines_member(s->cmdlines, a, name + 11);
	}
}

static int ck_load(const struct az_input *in, struct az_model *m, ai_err_t *err)
{
	struct ck_load *s __attribute__((cleanup(ck_freep))) = ck_new();
	struct archive_entry *e;
	size_t count = 0;
	int r;
	while ((r = archive_read_next_header(in->a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (++count > AZ_MAX_MEMBERS)
			return ai_err_set(err, 0, "%s: more than %u members", in->path, AZ_MAX_MEMBERS);
		const char *name = archive_entry_pathname(e);
		if (!name)
			continue;
		int cr = ck_member(s, in->a, e, err);
		if (cr < 0)
			return ai_err_wrap(err, "%s: checkpoint archive", in->path);
		if (cr > 0)
			continue;
		const struct az_input_ops *other = in->claimant(in, e);
		if (other)
			return ai_err_set(err, 0,
					  "%s: both %s members (%s) and checkpoint members (config.dump, "
					  "spec.dump): refused",
					  in->path, other->name, name);
	}
	if (r != ARCHIVE_EOF)
		return ai_err_set(err, 0, "%s: unreadable archive after %zu members: %s", in->path, count,
				  archive_error_string(in->a) ? archive_error_string(in->a) : "error");
	if (!s->have_config && !s->have_spec)
		return AZ_INPUT_NONE;
	cmdlines_second_pass(s, in->path);
	ck_finish(s, m);
	return 0;
}

const struct az_input_ops az_checkpoint_input = {
    .name = "checkpoint archive",
    .what = "a checkpoint archive",
    .marks = "no config.dump or spec.dump",
    .probe = ck_probe,
    .load = ck_load,
    .unsigned_why = "a Podman/CRI-O checkpoint archive: it carries no signature, SHA256SUMS or "
		    "manifest.json (no signature), so nothing can be verified; its views and "
		    "attribution still work",
};
