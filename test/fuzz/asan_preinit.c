/*-------------------------------------------------------------------------
 *
 * asan_preinit.c
 *	  Start AddressSanitizer before the first bindtextdomain() of a
 *	  postgres process that preloads the ASan runtime.
 *
 * postgres itself is not instrumented, so run.sh preloads the ASan runtime
 * into it (LD_PRELOAD).  The runtime then starts late, on its first
 * malloc(): on Debian 12 that is inside bindtextdomain(), called by the
 * constructors of libgpg-error and libgnutls (which postgres links) with
 * glibc's _nl_state_lock held, and the next bindtextdomain() then waits for
 * that lock forever ("postgres --version" hangs).  Preloaded after the
 * runtime, this library interposes bindtextdomain() and starts ASan before
 * glibc takes the lock.  An instrumented executable needs none of this: it
 * starts ASan from its .preinit_array.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  test/fuzz/asan_preinit.c
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

extern void __asan_init(void);
extern char *bindtextdomain(const char *domainname, const char *dirname);

char *
bindtextdomain(const char *domainname, const char *dirname)
{
	static char *(*real) (const char *, const char *) = NULL;

	__asan_init();
	if (real == NULL)
		real = (char *(*) (const char *, const char *))
			dlsym(RTLD_NEXT, "bindtextdomain");
	return real(domainname, dirname);
}
