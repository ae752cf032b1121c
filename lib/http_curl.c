/* SPDX-License-Identifier: MIT */
/*
 * libcurl, loaded when the first HTTP client is made rather than when the
 * program starts.
 *
 * libringpool is an executor first: most programs that use it never make
 * an HTTP client.  Linked against libcurl, every one of them would load it
 * at start-up, and with it what Debian's libcurl is built with (OpenSSL,
 * GnuTLS, Kerberos, LDAP, libssh2, nghttp2, RTMP: about thirty libraries).
 * On the 2-vCPU VM this project is measured on, relocating those took 16 ms
 * of CPU out of the 24 ms a trivial program took to run.
 *
 * So the library is built against curl's headers but not linked with it:
 * rp__curl_load() opens libcurl by the soname the build found
 * (RP_CURL_SONAME) and looks up the functions below, and this file defines
 * functions of the same names that call through the pointers.  The rest of
 * lib/ calls libcurl as usual, with curl.h's compile-time type checks of
 * curl_easy_setopt() and friends; these definitions are hidden (the
 * library's version script exports rp_* only), so they shadow nothing
 * outside it.  Only rp__curl_load() may be called before a load succeeded:
 * everything else here is reached through an rp_http client, which exists
 * only once it has.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>

#include <curl/curl.h>

#include "http_internal.h"

#ifndef RP_CURL_SONAME
#define RP_CURL_SONAME "libcurl.so.4"
#endif

#define RP_CURL_FUNCTIONS(X)                                                   \
	X(curl_global_init)                                                    \
	X(curl_version_info)                                                   \
	X(curl_getdate)                                                        \
	X(curl_easy_init)                                                      \
	X(curl_easy_cleanup)                                                   \
	X(curl_easy_reset)                                                     \
	X(curl_easy_setopt)                                                    \
	X(curl_easy_getinfo)                                                   \
	X(curl_easy_pause)                                                     \
	X(curl_easy_strerror)                                                  \
	X(curl_multi_init)                                                     \
	X(curl_multi_cleanup)                                                  \
	X(curl_multi_setopt)                                                   \
	X(curl_multi_add_handle)                                               \
	X(curl_multi_remove_handle)                                            \
	X(curl_multi_socket_action)                                            \
	X(curl_multi_info_read)                                                \
	X(curl_multi_assign)                                                   \
	X(curl_slist_append)                                                   \
	X(curl_slist_free_all)

/*
 * One pointer per function, of the type curl.h declares it with; named apart
 * from the function, which curl.h may also define as a macro.
 */
#define RP_CURL_POINTER(name) __typeof__(name) *p_##name;
static struct {
	RP_CURL_FUNCTIONS(RP_CURL_POINTER)
} fn;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_ret;

static void load(void)
{
	/* Kept open for the life of the process, as a linked library is. */
	void *lib = dlopen(RP_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!lib) {
		load_ret = -ELIBACC;
		return;
	}
#define RP_CURL_LOOKUP(name)                                                   \
	fn.p_##name = (__typeof__(name) *)dlsym(lib, #name);                  \
	if (!fn.p_##name) {                                                    \
		load_ret = -ELIBBAD;                                           \
		return;                                                        \
	}
	RP_CURL_FUNCTIONS(RP_CURL_LOOKUP)
#undef RP_CURL_LOOKUP
}

int rp__curl_load(void)
{
	pthread_once(&load_once, load);
	return load_ret;
}

/*
 * The names are in parentheses so that curl.h's function-like macros of the
 * same names (its type checks) are not expanded here.
 */

CURLcode(curl_global_init)(long flags)
{
	return fn.p_curl_global_init(flags);
}

curl_version_info_data *(curl_version_info)(CURLversion age)
{
	return fn.p_curl_version_info(age);
}

time_t(curl_getdate)(const char *p, const time_t *unused)
{
	return fn.p_curl_getdate(p, unused);
}

CURL *(curl_easy_init)(void)
{
	return fn.p_curl_easy_init();
}

void(curl_easy_cleanup)(CURL *curl)
{
	fn.p_curl_easy_cleanup(curl);
}

void(curl_easy_reset)(CURL *curl)
{
	fn.p_curl_easy_reset(curl);
}

/*
 * Calls fnptr(handle, option, next argument of ap), reading that argument
 * with the type the option's number gives it, as libcurl itself does: below
 * CURLOPTTYPE_OBJECTPOINT a long, then data pointers, function pointers,
 * curl_off_t, and from CURLOPTTYPE_BLOB data pointers again.  The multi
 * options (CURLMoption) are numbered the same way.
 */
#define RP_CURL_FORWARD(fnptr, handle, option, ap)                             \
	((option) < CURLOPTTYPE_OBJECTPOINT                                    \
		 ? (fnptr)((handle), (option), va_arg((ap), long))             \
	 : (option) < CURLOPTTYPE_FUNCTIONPOINT ||                             \
			 (option) >= CURLOPTTYPE_BLOB                          \
		 ? (fnptr)((handle), (option), va_arg((ap), void *))           \
	 : (option) < CURLOPTTYPE_OFF_T                                        \
		 ? (fnptr)((handle), (option), va_arg((ap), void (*)(void)))   \
		 : (fnptr)((handle), (option), va_arg((ap), curl_off_t)))

/* curl_easy_setopt() and curl_multi_setopt(), through RP_CURL_FORWARD(). */
#define RP_CURL_SETOPT(name, ret_type, handle_type, option_type)               \
	ret_type(name)(handle_type * handle, option_type option, ...)          \
	{                                                                      \
		va_list ap;                                                    \
		ret_type ret;                                                  \
                                                                               \
		va_start(ap, option);                                          \
		ret = RP_CURL_FORWARD(fn.p_##name, handle, option, ap);        \
		va_end(ap);                                                    \
		return ret;                                                    \
	}

RP_CURL_SETOPT(curl_easy_setopt, CURLcode, CURL, CURLoption)
RP_CURL_SETOPT(curl_multi_setopt, CURLMcode, CURLM, CURLMoption)

/* Every CURLINFO takes a pointer to where the value goes. */
CURLcode(curl_easy_getinfo)(CURL *curl, CURLINFO info, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, info);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fn.p_curl_easy_getinfo(curl, info, arg);
}

CURLcode(curl_easy_pause)(CURL *curl, int bitmask)
{
	return fn.p_curl_easy_pause(curl, bitmask);
}

const char *(curl_easy_strerror)(CURLcode code)
{
	return fn.p_curl_easy_strerror(code);
}

CURLM *(curl_multi_init)(void)
{
	return fn.p_curl_multi_init();
}

CURLMcode(curl_multi_cleanup)(CURLM *multi)
{
	return fn.p_curl_multi_cleanup(multi);
}

CURLMcode(curl_multi_add_handle)(CURLM *multi, CURL *curl)
{
	return fn.p_curl_multi_add_handle(multi, curl);
}

CURLMcode(curl_multi_remove_handle)(CURLM *multi, CURL *curl)
{
	return fn.p_curl_multi_remove_handle(multi, curl);
}

CURLMcode(curl_multi_socket_action)(CURLM *multi, curl_socket_t s,
				    int ev_bitmask, int *running_handles)
{
	return fn.p_curl_multi_socket_action(multi, s, ev_bitmask,
					   running_handles);
}

CURLMsg *(curl_multi_info_read)(CURLM *multi, int *msgs_in_queue)
{
	return fn.p_curl_multi_info_read(multi, msgs_in_queue);
}

CURLMcode(curl_multi_assign)(CURLM *multi, curl_socket_t s, void *sockp)
{
	return fn.p_curl_multi_assign(multi, s, sockp);
}

struct curl_slist *(curl_slist_append)(struct curl_slist *list,
				       const char *data)
{
	return fn.p_curl_slist_append(list, data);
}

void(curl_slist_free_all)(struct curl_slist *list)
{
	fn.p_curl_slist_free_all(list);
}

const char *rp_http_curl_version(void)
{
	const curl_version_info_data *v;

	if (rp__curl_load() < 0)
		return NULL;
	v = fn.p_curl_version_info(CURLVERSION_NOW);
	return v ? v->version : NULL;
}
