/* libarchive's writers call this one function from archive_write_set_format.o, whose format
 * table would otherwise drag the xar writer, libxml2 and ICU (~30 MB) into the static binary.
 * Same behaviour as libarchive 3.6's: refuse the entry with a clear message. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
/* libarchive's ARCHIVE_ERRNO_FILE_FORMAT is EILSEQ on Linux (archive_private.h) */
#define EFTYPE_AI EILSEQ

void __archive_write_entry_filetype_unsupported(struct archive *a, struct archive_entry *entry,
						const char *format);
void __archive_write_entry_filetype_unsupported(struct archive *a, struct archive_entry *entry,
						const char *format)
{
	archive_set_error(a, EFTYPE_AI, "%s: %s format cannot archive this file type",
			  archive_entry_pathname(entry), format);
}
