/*
 * preload.c
 *		Two symbols that test/sanitize.sh preloads right after gcc's libasan,
 *		so that an uninstrumented PostgreSQL runs an instrumented rail_stream
 *		under AddressSanitizer and UndefinedBehaviorSanitizer.
 *
 * swift_demangle(): without it, Debian 12's postgres, psql and initdb hang
 * at start under libasan.  They link (through libldap and GnuTLS)
 * libp11-kit, whose library constructor calls newlocale().  newlocale()
 * allocates while it holds glibc's setlocale lock as a writer; that first
 * malloc() is ASan's, and starts the sanitizer runtime right there (libasan
 * runs its own constructor after all the others).  Starting, the runtime
 * looks for the Swift demangler with dlsym(RTLD_DEFAULT, "swift_demangle")
 * and, when it is missing, clears the error with dlerror(), which
 * translates the message with gettext(), which takes and releases the same
 * lock as a reader.  The lock's counts go wrong, and the next setlocale()
 * or freelocale() waits forever (seen on initdb's "postgres -V", on psql,
 * on curl alike).  With the symbol in the process, dlsym() succeeds,
 * dlerror() has nothing to translate, and the lock is left alone.  NULL
 * means "not a Swift name": ASan demangles C++ names as usual.
 *
 * __ubsan_default_options(): libubsan reads UBSAN_OPTIONS when it reports
 * its first error, from /proc/self/environ, that is the process's original
 * environment area.  A backend has overwritten that area with its process
 * title by then (ps_status.c, after it moved the environment elsewhere), so
 * UBSan would run without print_stacktrace and abort_on_error.  UBSan also
 * asks this hook for its default options: it answers with the variable as
 * getenv() still finds it.  The hook must come before libubsan in the
 * library search order, which is why this file is preloaded and libubsan
 * is not.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

char	   *swift_demangle(const char *mangled, size_t mangled_len,
						   char *out, size_t *out_len, uint32_t flags);
const char *__ubsan_default_options(void);

char *
swift_demangle(const char *mangled, size_t mangled_len,
			   char *out, size_t *out_len, uint32_t flags)
{
	return NULL;
}

const char *
__ubsan_default_options(void)
{
	const char *options = getenv("UBSAN_OPTIONS");

	return options ? options : "";
}
