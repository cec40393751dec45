/* The pieces every view of a process or an fd shares (record.h). */
#include "analyze/record.h"
#include "analyze/util.h"

void az_json_str(struct ai_json *j, const char *key, const struct az_str *s)
{
	if (!s->s) {
		ai_json_key(j, key);
		ai_json_null(j);
	} else
		ai_json_kbytes(j, key, s->s, s->len);
}

void az_ct_head(const struct az_model *m, struct ai_buf *out)
{
	if (m->ncts > 1)
		ai_buf_printf(out, "%-16s ", "CONTAINER");
}

void az_ct_col(const struct az_model *m, unsigned ct, struct ai_buf *out)
{
	if (m->ncts > 1)
		ai_buf_printf(out, "%-16s ", az_model_ctname(m, ct));
}

void az_json_ct(struct ai_json *j, const struct az_model *m, unsigned ct)
{
	if (m->ncts > 1)
		ai_json_kstr(j, "container", az_model_ctname(m, ct));
}

void az_proc_cmdline(const struct az_proc *p, struct ai_buf *out)
{
	if (!p->argc) {
		ai_buf_addc(out, '[');
		az_esc_text(out, p->comm.s, p->comm.len);
		ai_buf_addc(out, ']');
		return;
	}
	for (size_t i = 0; i < p->argc; i++) {
		if (i)
			ai_buf_addc(out, ' ');
		az_esc_text(out, p->argv[i].s, p->argv[i].len);
	}
}

void az_json_proc(struct ai_json *j, const struct az_proc *p, enum az_rec rec, int depth)
{
	ai_json_kint(j, "pid", p->pid);
	if (rec == AZ_REC_FULL) {
		ai_json_kint(j, "ppid", p->ppid);
		ai_json_kint(j, "nspid", p->nspid);
		ai_json_kint(j, "depth", depth);
	}
	az_json_str(j, "comm", &p->comm);
	if (rec == AZ_REC_ID) {
		ai_json_key(j, "exe");
		if (p->exe.s)
			ai_json_strn(j, p->exe.s, az_exe_path_len(p));
		else
			ai_json_null(j);
		return;
	}
	ai_json_key(j, "cmdline");
	ai_json_arr_begin(j);
	for (size_t i = 0; i < p->argc; i++)
		ai_json_strn(j, p->argv[i].s, p->argv[i].len);
	ai_json_arr_end(j);
	az_json_str(j, "exe", &p->exe);
	ai_json_kbool(j, "exe_deleted", p->exe_deleted);
	ai_json_kbool(j, "exe_memfd", p->exe_memfd);
	ai_json_kstr(j, "exe_sha256", p->exe_sha256[0] ? p->exe_sha256 : NULL);
	az_json_str(j, "exe_member", &p->exe_member);
	ai_json_kint(j, "uid", p->uid[1]);
	ai_json_kint(j, "gid", p->gid[1]);
	ai_json_kstr(j, "state", p->state);
	ai_json_kint(j, "threads", p->threads);
	if (p->start_ns)
		ai_json_ktime(j, "start_time", p->start_ns / 1000000000, (long)(p->start_ns % 1000000000));
	ai_json_kbool(j, "zombie", p->zombie);
	ai_json_kbool(j, "vanished", p->vanished);
}

void az_json_fd(struct ai_json *j, const struct az_fd *f, enum az_rec rec)
{
	if (rec == AZ_REC_ID) {
		ai_json_kint(j, "fd", f->fd);
		az_json_str(j, "path", &f->target);
		return;
	}
	ai_json_kint(j, "pid", f->pid);
	ai_json_kint(j, "fd", f->fd);
	ai_json_kstr(j, "type", az_fd_type_name(f->type));
	az_json_str(j, "target", &f->target);
	ai_json_kstr(j, "flags", f->flags);
	ai_json_kint(j, "pos", f->pos);
	ai_json_kint(j, "ino", f->ino);
	ai_json_kint(j, "size", f->size);
	ai_json_kbool(j, "deleted", f->deleted);
	ai_json_kbool(j, "memfd", f->memfd);
	az_json_str(j, "recovered", &f->rec_member);
	ai_json_kstr(j, "recovered_sha256", f->rec_member.s && f->rec_sha256[0] ? f->rec_sha256 : NULL);
	ai_json_key(j, "recovered_size");
	if (f->rec_member.s && f->rec_size >= 0)
		ai_json_int(j, f->rec_size);
	else
		ai_json_null(j);
}
