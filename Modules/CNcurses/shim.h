// Swift-callable face of ncursesw: inline wrappers for the macros and globals Swift cannot import.
#ifndef PPTERM_CNCURSES_SHIM_H
#define PPTERM_CNCURSES_SHIM_H

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif

#include <locale.h>
#include <langinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>
#include <ncursesw/curses.h>
#include <ncursesw/term.h>

// Globals (not concurrency-safe as Swift globals): read through functions.
static inline WINDOW *ppterm_stdscr(void) { return stdscr; }
static inline WINDOW *ppterm_curscr(void) { return curscr; }
static inline int ppterm_lines(void) { return LINES; }
static inline int ppterm_cols(void) { return COLS; }
static inline int ppterm_colors(void) { return COLORS; }
static inline int ppterm_color_pairs(void) { return COLOR_PAIRS; }
static inline FILE *ppterm_stdin(void) { return stdin; }
static inline FILE *ppterm_stdout(void) { return stdout; }

// Attribute macros.
static inline attr_t ppterm_a_normal(void) { return A_NORMAL; }
static inline attr_t ppterm_a_bold(void) { return A_BOLD; }
static inline attr_t ppterm_a_dim(void) { return A_DIM; }
static inline attr_t ppterm_a_reverse(void) { return A_REVERSE; }
static inline attr_t ppterm_a_underline(void) { return A_UNDERLINE; }
static inline attr_t ppterm_a_color(void) { return A_COLOR; }
static inline attr_t ppterm_color_pair(int n) { return (attr_t)COLOR_PAIR(n); }
static inline int ppterm_pair_number(attr_t a) { return (int)PAIR_NUMBER(a); }

// Key macros.
static inline int ppterm_key_f(int n) { return KEY_F(n); }

/// wget_wch with a plain out-parameter: returns OK (a character), KEY_CODE_YES (a KEY_* code) or ERR.
static inline int ppterm_get_wch(WINDOW *win, unsigned int *out) {
    wint_t ch = 0;
    int rc = wget_wch(win, &ch);
    *out = (unsigned int)ch;
    return rc;
}

/// Whether the current terminal can address the cursor ("cup" present): false for TERM=dumb and friends.
static inline int ppterm_has_cup(void) {
    char *s = tigetstr("cup");
    return s != NULL && s != (char *)-1;
}

/// Whether terminfo knows `term` and it can move the cursor and clear to the end of a line ("cup" and "el"), found
/// without starting curses or writing to `fd`: 1 yes, 0 it cannot, -1 not in the terminfo database. Leaves cur_term as it was.
static inline int ppterm_probe(const char *term, int fd) {
    int err = 0;
    TERMINAL *old = cur_term;
    if (setupterm(term, fd, &err) != OK) {
        set_curterm(old);
        return -1;
    }
    char *cup = tigetstr("cup");
    char *el = tigetstr("el");
    int ok = cup != NULL && cup != (char *)-1 && el != NULL && el != (char *)-1;
    TERMINAL *mine = set_curterm(old);
    if (mine != NULL && mine != old) del_curterm(mine);
    return ok;
}

/// Whether the locale's codeset is UTF-8 (call after setlocale).
static inline int ppterm_locale_is_utf8(void) {
    const char *cs = nl_langinfo(CODESET);
    if (cs == NULL) return 0;
    return (cs[0] == 'U' || cs[0] == 'u') && (cs[1] == 'T' || cs[1] == 't') && (cs[2] == 'F' || cs[2] == 'f') &&
           ((cs[3] == '-' && cs[4] == '8' && cs[5] == 0) || (cs[3] == '8' && cs[4] == 0));
}

/// Puts one character cell (up to CCHARW_MAX code points) with attributes and a colour pair at (y, x);
/// uses insertion for the bottom-right cell so the cursor never has to move past the screen. Returns OK/ERR.
static inline int ppterm_put_cell(WINDOW *win, int y, int x, const wchar_t *wch, attr_t attrs, int pair) {
    cchar_t c;
    if (setcchar(&c, wch, attrs, (short)pair, NULL) != OK) return ERR;
    if (y == getmaxy(win) - 1 && x == getmaxx(win) - 1) return mvwins_wch(win, y, x, &c);
    return mvwadd_wch(win, y, x, &c);
}

/// Reads the attributes and colour pair of the cell at (y, x). Returns OK/ERR.
static inline int ppterm_cell_attrs(WINDOW *win, int y, int x, attr_t *attrs, int *pair) {
    cchar_t c;
    wchar_t wch[CCHARW_MAX + 1];
    short p = 0;
    if (mvwin_wch(win, y, x, &c) != OK) return ERR;
    if (getcchar(&c, wch, attrs, &p, NULL) == ERR) return ERR;
    *pair = p;
    return OK;
}

static inline int ppterm_ccharw_max(void) { return CCHARW_MAX; }

/// Asks ncurses for button presses/releases and the wheel (or for nothing): its own mouse decoding (KEY_MOUSE) then
/// works where terminfo names the report (kmous); no click-interval wait.
static inline void ppterm_mouse(int on) {
    mmask_t want = on ? (BUTTON1_PRESSED | BUTTON1_RELEASED | BUTTON2_PRESSED | BUTTON2_RELEASED | BUTTON3_PRESSED |
                         BUTTON3_RELEASED | BUTTON4_PRESSED | BUTTON5_PRESSED)
                      : 0;
    mousemask(want, NULL);
    mouseinterval(0);
}

/// The mouse event behind a KEY_MOUSE: kind 1-3 button pressed, 4 released, 5 wheel up, 6 wheel down, 0 other;
/// 0-based row and column. Returns OK/ERR.
static inline int ppterm_getmouse(int *kind, int *row, int *col) {
    MEVENT e;
    if (getmouse(&e) != OK) return ERR;
    *row = e.y;
    *col = e.x;
    mmask_t b = e.bstate;
    if (b & BUTTON1_PRESSED) *kind = 1;
    else if (b & BUTTON2_PRESSED) *kind = 2;
    else if (b & BUTTON3_PRESSED) *kind = 3;
    else if (b & (BUTTON1_RELEASED | BUTTON2_RELEASED | BUTTON3_RELEASED)) *kind = 4;
    else if (b & BUTTON4_PRESSED) *kind = 5;
    else if (b & BUTTON5_PRESSED) *kind = 6;
    else *kind = 0;
    return OK;
}

/// Pushes a character back so the next wget_wch reads it (OK/ERR).
static inline int ppterm_unget(unsigned int ch) { return unget_wch((wchar_t)ch); }

/// Writes raw bytes to the terminal ncurses draws on (after its own output), e.g. mode switches and OSC 52.
static inline void ppterm_write_raw(const char *s) {
    FILE *out = stdout;
    fflush(out);
    fputs(s, out);
    fflush(out);
}

#endif
