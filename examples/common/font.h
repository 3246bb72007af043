/* The built-in 5 x 7 bitmap font of the plots (upper-case letters, digits, punctuation). */
#ifndef LCT_EXAMPLES_FONT_H
#define LCT_EXAMPLES_FONT_H

#define FONT_W 5        /* glyph width in font pixels */
#define FONT_H 7        /* glyph height */
#define FONT_ADVANCE 6  /* horizontal step from one character to the next (1 column of spacing) */

/*
 * The 7 rows of character c, each FONT_W characters of '#' (ink) or ' ' (paper). Lower-case
 * letters map to upper case; a character without a glyph gets the '?' glyph.
 */
const char *const *font_glyph(char c);

/* 1 if c has its own glyph (after upper-casing). */
int font_has_glyph(char c);

#endif
