/* What a reader of an input format is to the input layer (input.c): one `struct az_input_ops`,
 * one row of input.c's table. The input layer opens the file once and makes one probe pass over
 * the archive's member headers, asking each reader's probe about each member in table order; the
 * first reader to claim a member is the format, and gets a fresh stream over the same file to
 * load. Readers never include input.h: the input layer depends on them, not the reverse. */
#ifndef AZ_READER_H
#define AZ_READER_H
#include <stdbool.h>
#include "common/err.h"

struct archive;
struct archive_entry;
struct az_model;
struct az_input_ops;

/* What load gets. */
struct az_input {
	const char *path;  /* for messages */
	struct archive *a; /* the archive, before its first header */
	const struct az_input_ops *self;
	/* The other reader whose probe claims e (the current member of a), or NULL: for a reader
	 * that refuses an archive mixing formats. */
	const struct az_input_ops *(*claimant)(const struct az_input *in, struct archive_entry *e);
};

/* load's return when the archive turned out to hold nothing of the format after all: the input
 * layer then says the input is none of the formats. */
#define AZ_INPUT_NONE 1

struct az_input_ops {
	const char *name;  /* "checkpoint archive" */
	const char *what;  /* the same with its article: "a checkpoint archive" */
	const char *marks; /* what the probe looks for, as missing: "no config.dump or spec.dump" */
	/* Does member e mark this format? By content: its name, type, or its data (a probe that reads
	 * the data must be the only one to claim that member). */
	bool (*probe)(struct archive *a, struct archive_entry *e);
	/* Read the archive into m (zeroed): 0, -1 (err set, m may hold a part: az_model_free it), or
	 * AZ_INPUT_NONE. */
	int (*load)(const struct az_input *in, struct az_model *m, ai_err_t *err);
	/* NULL when the format carries afterimage's signatures; else why it does not, completing
	 * "NOT SIGNED: PATH is ...". */
	const char *unsigned_why;
};

#endif
