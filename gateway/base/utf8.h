/*
 * utf8.h: strict UTF-8: decode, encode, validate, cut at a character.
 */
#ifndef UTF8_H
#define UTF8_H

#include <stdbool.h>
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

/* cp as UTF-8 into out (room for 4); returns the bytes written.  A value
   that is no Unicode scalar (a surrogate, over U+10FFFF) becomes U+FFFD. */
size_t utf8_put(char *out, uint32_t cp);

/* Whether the len bytes at s are well-formed UTF-8 throughout. */
bool utf8_valid(const char *s, size_t len);

/* The longest prefix of the len bytes at s of at most max bytes that ends
   at a character boundary (an ill-formed part counts as one character). */
size_t utf8_cut(const char *s, size_t len, size_t max);

#endif
