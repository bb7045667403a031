/*
 * utf8.h: strict UTF-8 decoding.
 */
#ifndef UTF8_H
#define UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * The length of the well-formed UTF-8 sequence at p (len > 0 bytes left)
 * with its value in *cp, or 0 with *skip set to the bytes of the ill-formed
 * part, which counts as one U+FFFD (Unicode's "maximal subpart" practice,
 * so that one bad byte never swallows the good characters after it).
 * Overlong forms, surrogates and values over U+10FFFF are ill-formed.
 */
size_t utf8_next(const unsigned char *p, size_t len, uint32_t *cp,
    size_t *skip);

#endif
