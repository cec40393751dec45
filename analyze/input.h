/* The input layer: an evidence file is opened once, its format detected once, by content (which
 * members the archive holds: each reader of the table in input.c is asked about each member), and
 * loaded by that format's reader (reader.h). az_model_load (model.h) is here. */
#ifndef AZ_INPUT_H
#define AZ_INPUT_H

/* For verify: why the format of PATH carries no afterimage signature (it completes "PATH is ..."),
 * or NULL: a signed format, or nothing recognised (verify then says what is wrong as usual). */
const char *az_input_unsigned(const char *path);

#endif
