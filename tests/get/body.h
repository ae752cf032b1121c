/* SPDX-License-Identifier: MIT */
/*
 * The bodies the fault server sends: deterministic bytes that depend on a
 * key and the position, so a test can compute what a file must hold (and
 * its SHA-256) without asking the server.
 */
#ifndef RINGPOOL_TESTS_GET_BODY_H
#define RINGPOOL_TESTS_GET_BODY_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t body_seed(const char *key)
{
	uint32_t h = 2166136261u;

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h;
}

/* Byte `i` of the body for `seed`: not periodic over small ranges. */
static inline unsigned char body_byte(uint32_t seed, uint64_t i)
{
	uint32_t x = seed ^ (uint32_t)(i >> 8) * 2654435761u;

	return (unsigned char)((x >> 13) + (uint32_t)i * 131u);
}

static inline void body_fill(uint32_t seed, uint64_t off, unsigned char *buf,
			     size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = body_byte(seed, off + i);
}

#endif
