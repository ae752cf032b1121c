/* SPDX-License-Identifier: MIT */
/*
 * A library that test_get puts where the loader finds it under libcurl's
 * soname: it has one of the functions libringpool looks up, not the rest,
 * so that loading it must fail with -ELIBBAD and `ringpool get` must say so.
 */
int curl_global_init(long flags);

int curl_global_init(long flags)
{
	(void)flags;
	return 0;
}
