/* The afterimage bundle reader: a plain tar streamed once with libarchive (no extraction), keeping
 * only the JSON members the model is built from, each bounded, and handing them to the evidence
 * readers (processes.c, fds.c, sockets.c, mounts.c, upper.c; manifest.json here). */
#ifndef AZ_BUNDLE_H
#define AZ_BUNDLE_H
#include "analyze/reader.h"

extern const struct az_input_ops az_bundle_input;

#endif
