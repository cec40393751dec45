/* afterimage-analyze: offline analysis of afterimage bundles (docs/analyze.md).
 * Exit codes: 0 success; 1 verification failed (verify);
 * 2 usage; 3 unreadable or malformed input (bundle, key, image); 4 verify: valid but partial bundle;
 * 5 verify: a checkpoint archive, which carries no signature. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "analyze/input.h"
#include "common/esc.h"
#include "analyze/cli.h"
#include "analyze/model.h"
#include "analyze/util.h"
#include "analyze/verify.h"
#include "common/buf.h"

#define PROG "afterimage-analyze"

static int cmd_verify(struct az_opts *o)
{
	/* a format that carries no afterimage signature (a checkpoint archive): say so, distinctly */
	const char *why = az_input_unsigned(o->bundle);
	if (why) {
		ai_eprintf(NULL, "NOT SIGNED: %s is %s", o->bundle, why);
		return AZ_EXIT_UNSIGNED;
	}
	if (!o->pub) {
		ai_eprintf("afterimage-analyze verify", "--pub KEY.pub is required");
		return AZ_EXIT_USAGE;
	}
	struct az_verify_result res;
	ai_err_t err;
	if (az_verify(o->bundle, o->pub, &res, &err) < 0) {
		ai_eprintf("afterimage-analyze verify", "%s", err.msg);
		az_verify_result_free(&res);
		return AZ_EXIT_INPUT;
	}
	if (!o->quiet || res.failures)
		az_verify_result_write(&res, res.failures ? stderr : stdout);
	int rc = res.failures ? AZ_EXIT_FAIL : res.complete ? AZ_EXIT_OK : AZ_EXIT_PARTIAL;
	if (res.failures)
		ai_eprintf(NULL, "VERIFICATION FAILED: %s: %zu problem%s", o->bundle, res.failures,
			   res.failures == 1 ? "" : "s");
	else
		printf("verified: %s (key id %s)%s\n", o->bundle, res.keyid,
		       res.complete ? "" : ", partial bundle");
	az_verify_result_free(&res);
	return rc;
}

static int cmd_version(struct az_opts *o)
{
	(void)o;
	printf(PROG " %s\n", AI_VERSION);
	return 0;
}

/* Every subcommand, in the order the overall usage lists them. */
static const struct az_command commands[] = {
    {"verify", 1,
     "verify BUNDLE --pub KEY.pub\n"
     "  check the bundle's outer signature, SHA256SUMS and its signature, every member's hash and\n"
     "  manifest.json; one ok or FAIL line per check (failures on stderr)\n"
     "  exit 0 verified, 1 a check failed, 3 unreadable input, 4 valid but a partial bundle,\n"
     "  5 a checkpoint archive (no signature to verify)\n",
     cmd_verify},
    {"ps", 1,
     "ps BUNDLE [--json] [--pid N [--image [NAME=]REF...] [--show-secrets]]\n"
     "  the processes as a tree: pid, ppid, uid, state, start time, command line, exe (--json: also\n"
     "  environment with secrets masked, cwd, root, capabilities, seccomp, namespaces, cgroup);\n"
     "  --pid N: that process in full, with every fd (sockets resolved to endpoints) and children\n",
     az_cmd_ps},
    {"fds", 1,
     "fds BUNDLE [--json] [--pid N] [--container NAME] [--path GLOB]\n"
     "         [--since T] [--until T]\n"
     "  every open file descriptor: type, flags, size, target, recovered content; the filters\n"
     "  keep the rows of that process, container, path (glob), or processes started in [T, T]\n"
     "  (T: ISO 8601 UTC, or +N/-N[smhd] from the capture's start)\n",
     az_cmd_fds},
    {"net", 1,
     "net BUNDLE [--json] [--pid N] [--container NAME] [--path GLOB]\n"
     "         [--since T] [--until T]\n"
     "  the sockets: protocol, state, local and remote address, owning processes\n",
     az_cmd_net},
    {"mounts", 1,
     "mounts BUNDLE [--json]\n"
     "  the container's mounts and its overlay root (lowerdirs, upperdir, metacopy)\n",
     az_cmd_mounts},
    {"files", 1,
     "files BUNDLE [--json] [--pid N] [--container NAME] [--path GLOB]\n"
     "         [--since T] [--until T]\n"
     "  the upperdir index: every file the container created, changed or deleted\n",
     az_cmd_files},
    {"layers", 1,
     "layers BUNDLE --image [NAME=]REF... [--json] [--changed] [--path GLOB] [--pid N] [--stats]\n"
     "  attribute every path to an image layer or the upperdir (image, added, modified, metadata,\n"
     "  deleted, replaced, layer-deleted); --changed: all but status image; --path: only the paths\n"
     "  GLOB matches (fnmatch); --pid: only process N's exe and open files, in its own container's\n"
     "  attribution; --stats: timings and memory on stderr\n",
     az_cmd_layers},
    {"findings", 1,
     "findings BUNDLE [--image [NAME=]REF...] [--json] [--show-secrets] [--pid N] [--container NAME]\n"
     "         [--path GLOB] [--min-severity high|medium|info]\n"
     "  what to look at first, most severe first, each from a rule of docs/findings.md (AI-...):\n"
     "  deleted or memfd executables, binaries added or modified at runtime, connections, shells on\n"
     "  sockets, listeners, shells under services, persistence files, secrets (values masked unless\n"
     "  --show-secrets), dropped copies of image files, the container's hardening; then every\n"
     "  process's exe and open files with their origin\n",
     az_cmd_findings},
    {"iocs", 1,
     "iocs BUNDLE [--image [NAME=]REF...] [--format csv|json] [--pid N] [--container NAME] [--path GLOB]\n"
     "         [--min-severity high|medium|info]\n"
     "  indicators from the findings, one row per type and value (type, value, context, first seen,\n"
     "  rule, kind, pid, member): sha256 of dropped, modified, deleted-open and memfd content,\n"
     "  remote and listening endpoints, suspicious paths; csv by default\n",
     az_cmd_iocs},
    {"timeline", 1,
     "timeline BUNDLE [--image [NAME=]REF...] --format bodyfile|jsonl|csv [--pid N] [--container NAME]\n"
     "         [--path GLOB] [--since T] [--until T]\n"
     "  every dated event (upperdir times, whiteouts, process starts, image history, the capture)\n"
     "  as a Sleuthkit bodyfile (for mactime -b) or Timesketch JSONL / CSV\n",
     az_cmd_timeline},
    {"report", 1,
     "report BUNDLE [--image [NAME=]REF...] [--pub KEY.pub] -o report.html\n"
     "  one self-contained HTML report (no script, no network): findings, process tree, sockets,\n"
     "  attribution, timeline; --pub: verified first, as verify does, and said at its top (exit 1\n"
     "  when verification fails, the report written all the same)\n",
     az_cmd_report},
    {"diff", 2,
     "diff A B [--image [NAME=]REF...] [--json]\n"
     "  what changed from A to B, through the overlay: files added, deleted (whiteouts), modified\n"
     "  (copy-ups, content by sha256) or with metadata changes only; processes and sockets new or\n"
     "  vanished; --image: the layer each changed path came from\n",
     az_cmd_diff},
    {"memory", 1,
     "memory BUNDLE|CHECKPOINT|CORE [--pid N] [--maps] [--search STRING | --regex RE]\n"
     "       [--context BYTES] [--prot rwx] [--vma heap|stack|anon|file|PATH] [--addr START-END]\n"
     "       [--image REF] [--json]\n"
     "  process memory from ELF cores (memory/PID.core members, or a core file itself) or CRIU\n"
     "  pages (checkpoint/mm-, pagemap-, pages-*.img): --maps lists the mappings (address, size,\n"
     "  protection, kind, bytes dumped, path; with --image the file's origin layer); --search /\n"
     "  --regex (POSIX extended) print each match with a hex+ASCII dump of --context bytes (64)\n"
     "  around it; --prot (letters that must be set; rw- form: exact), --vma, --addr (hex) filter\n",
     az_cmd_memory},
    {"extract", 1,
     "extract BUNDLE -o DIR [--member PATH]\n"
     "  extract a bundle's members into a new or empty DIR (files, dirs, symlinks, hardlinks only);\n"
     "  --member PATH: that one member (exe/PID, fds/recovered/PID-FD, fs/upper/...) written as\n"
     "  DIR/NAME, NAME the basename of the path the container knew it by, beside\n"
     "  NAME.manifest.json (member, sha256, size, original path, origin); nothing is replaced\n",
     az_cmd_extract},
    {"version", 0, "version\n  print the version\n", cmd_version},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char footer[] =
    "BUNDLE: an afterimage bundle, or a Podman/CRI-O checkpoint archive (checkpoint --export)\n"
    "REF: oci:DIR[:TAG] | oci-archive:FILE[:TAG] | docker-archive:FILE\n"
    "common options: --quiet (no progress on stderr), -h|--help (this usage)\n";

static void usage(FILE *f)
{
	fputs("usage: " PROG " COMMAND [options]   (" PROG " COMMAND --help: its usage)\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *u = commands[i].usage, *nl = strchr(u, '\n');
		fprintf(f, "  %.*s\n", nl ? (int)(nl - u) : (int)strlen(u), u);
	}
	fputs(footer, f);
	fputs("exit: 0 ok, 1 verification failed, 2 usage, 3 unreadable input, 4 partial bundle (verify),\n"
	      "      5 verify: a checkpoint archive (no signature to verify)\n",
	      f);
}

static void command_usage(const struct az_command *c, FILE *f)
{
	fputs("usage: " PROG " ", f);
	fputs(c->usage, f);
	if (c->nargs)
		fputs(footer, f);
}

static const struct az_command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	return NULL;
}

/* The one dispatcher: the command's row, the options every command shares, --help, the count of
 * positional arguments; then the command's entry point. */
int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return AZ_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--version"))
		name = "version";
	if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
		const struct az_command *c = argc > 2 ? find_command(argv[2]) : NULL;
		if (argc > 2 && !c) {
			ai_eprintf(PROG, "unknown command %s", argv[2]);
			usage(stderr);
			return AZ_EXIT_USAGE;
		}
		if (c)
			command_usage(c, stdout);
		else
			usage(stdout);
		return 0;
	}
	const struct az_command *c = find_command(name);
	if (!c) {
		ai_eprintf(PROG, "unknown command %s", name);
		usage(stderr);
		return AZ_EXIT_USAGE;
	}
	struct az_opts o = {.cmd = c->name, .filter = AZ_FILTER_NONE};
	/* long options without a letter of their own */
	enum { OPT_MAPS = 1000, OPT_SEARCH, OPT_REGEX, OPT_CONTEXT, OPT_PROT, OPT_VMA, OPT_ADDR };
	static const struct option lo[] = {
	    {"pub", required_argument, NULL, 'p'},
	    {"json", no_argument, NULL, 'j'},
	    {"image", required_argument, NULL, 'i'},
	    {"format", required_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"changed", no_argument, NULL, 'c'},
	    {"stats", no_argument, NULL, 's'},
	    {"show-secrets", no_argument, NULL, 'S'},
	    {"pid", required_argument, NULL, 'P'},
	    {"container", required_argument, NULL, 'C'},
	    {"path", required_argument, NULL, 'G'},
	    {"min-severity", required_argument, NULL, 'M'},
	    {"since", required_argument, NULL, 'T'},
	    {"until", required_argument, NULL, 'U'},
	    {"member", required_argument, NULL, 'm'},
	    {"maps", no_argument, NULL, OPT_MAPS},
	    {"search", required_argument, NULL, OPT_SEARCH},
	    {"regex", required_argument, NULL, OPT_REGEX},
	    {"context", required_argument, NULL, OPT_CONTEXT},
	    {"prot", required_argument, NULL, OPT_PROT},
	    {"vma", required_argument, NULL, OPT_VMA},
	    {"addr", required_argument, NULL, OPT_ADDR},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	optind = 2;
	opterr = 0; /* reported below, through the escaping printer */
	while ((ch = getopt_long(argc, argv, ":o:qjh", lo, NULL)) != -1) {
		switch (ch) {
		case 'p':
			o.pub = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'i':
			o.image = optarg;
			if (o.nimages == AZ_MAX_IMAGES) {
				ai_eprintf(PROG, "at most %d --image", AZ_MAX_IMAGES);
				return AZ_EXIT_USAGE;
			}
			o.images[o.nimages++] = optarg;
			break;
		case 'f':
			o.format = optarg;
			break;
		case 'o':
			o.output = optarg;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'c':
			o.changed = true;
			break;
		case 's':
			o.stats = true;
			break;
		case OPT_MAPS:
			o.maps = true;
			break;
		case OPT_SEARCH:
			o.search = optarg;
			break;
		case OPT_REGEX:
			o.regex = optarg;
			break;
		case OPT_CONTEXT:
			o.context = optarg;
			break;
		case OPT_PROT:
			o.prot = optarg;
			break;
		case OPT_VMA:
			o.vma = optarg;
			break;
		case OPT_ADDR:
			o.addr = optarg;
			break;
		case 'm':
			o.member = optarg;
			break;
		case 'S':
			o.show_secrets = true;
			break;
		case 'P':
			if (ch == 'P')
				o.pid = optarg; /* memory's own, parsed there */
						/* fall through */
		case 'C':
		case 'G':
		case 'M':
		case 'T':
		case 'U':
			if (az_filter_option(&o.filter, ch, optarg) < 0) {
				ai_eprintf(PROG, "%s: bad value for %s", c->name, argv[optind - 1]);
				return AZ_EXIT_USAGE;
			}
			break;
		case 'h':
			command_usage(c, stdout);
			return 0;
		default:
			if (ch == ':')
				ai_eprintf(PROG, "%s: option %s needs an argument", c->name,
					   argv[optind - 1]);
			else if (optopt)
				ai_eprintf(PROG, "%s: unknown option -%c", c->name, optopt);
			else
				ai_eprintf(PROG, "%s: unknown option %s", c->name, argv[optind - 1]);
			command_usage(c, stderr);
			return AZ_EXIT_USAGE;
		}
	}
	int npos = argc - optind;
	if (npos != c->nargs) {
		static const char *const want[] = {"no arguments", "one bundle", "two bundles"};
		ai_eprintf(PROG, "%s: expected %s", c->name, want[c->nargs]);
		command_usage(c, stderr);
		return AZ_EXIT_USAGE;
	}
	o.bundle = c->nargs > 0 ? argv[optind] : NULL;
	o.bundle2 = c->nargs > 1 ? argv[optind + 1] : NULL;
	if (!o.quiet && isatty(STDERR_FILENO))
		o.progress = true;
	return c->run(&o);
}
