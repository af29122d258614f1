"""One escaping or validating function per generated language: every user string passes through one.

Whatever a user controls (the model's file name, ``--<target>-symbol``, tensor names from the model,
Vela's system config and memory mode names from an .ini file) reaches generated C, C++, CMake and
Markdown only through these, so a name holding a newline, ``*/``, ``#error``, quotes or backslashes
stays inside the comment, string or code span it was put in:

- ``c_identifier``: validated, never altered (UsageError, exit 2, naming the value and the rule);
- ``c_comment``: the text of a ``//`` or ``/* */`` comment: printable ASCII, escapes for the rest;
- ``c_string``: the body of a C/C++ string literal;
- ``cmake_string`` / ``cmake_comment``: a quoted CMake argument's body, a ``#`` line comment's text;
- ``markdown_code`` / ``markdown_text``: a complete code span, plain paragraph text.

Generated C and C++ are pure ASCII whatever the input (non-ASCII characters become escapes).
"""

from __future__ import annotations

import re

from hwquant import UsageError

# C11 and C++20 keywords, alternative tokens, and `main`: none may name a generated symbol.
RESERVED = frozenset(
    [
        "alignas",
        "alignof",
        "and",
        "and_eq",
        "asm",
        "auto",
        "bitand",
        "bitor",
        "bool",
        "break",
        "case",
        "catch",
        "char",
        "char8_t",
        "char16_t",
        "char32_t",
        "class",
        "compl",
        "concept",
        "const",
        "consteval",
        "constexpr",
        "constinit",
        "const_cast",
        "continue",
        "co_await",
        "co_return",
        "co_yield",
        "decltype",
        "default",
        "delete",
        "do",
        "double",
        "dynamic_cast",
        "else",
        "enum",
        "explicit",
        "export",
        "extern",
        "false",
        "float",
        "for",
        "friend",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "mutable",
        "namespace",
        "new",
        "noexcept",
        "not",
        "not_eq",
        "nullptr",
        "operator",
        "or",
        "or_eq",
        "private",
        "protected",
        "public",
        "register",
        "reinterpret_cast",
        "requires",
        "restrict",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "static_assert",
        "static_cast",
        "struct",
        "switch",
        "template",
        "this",
        "thread_local",
        "throw",
        "true",
        "try",
        "typedef",
        "typeid",
        "typename",
        "union",
        "unsigned",
        "using",
        "virtual",
        "void",
        "volatile",
        "wchar_t",
        "while",
        "xor",
        "xor_eq",
        "_Alignas",
        "_Alignof",
        "_Atomic",
        "_Bool",
        "_Complex",
        "_Generic",
        "_Imaginary",
        "_Noreturn",
        "_Static_assert",
        "_Thread_local",
        "main",
    ]
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_IDENTIFIER = 255
IDENTIFIER_RULE = (
    "letters, digits and '_' only, not starting with a digit, not starting with '__' or '_' + a capital "
    f"letter, not a C/C++ keyword, at most {MAX_IDENTIFIER} characters"
)


def c_identifier(name: str, what: str = "symbol") -> str:
    """``name`` unchanged if it is a usable C and C++ identifier, else a UsageError (exit 2) naming it."""
    if (
        not isinstance(name, str)
        or not _IDENT.fullmatch(name)
        or len(name) > MAX_IDENTIFIER
        or name in RESERVED
        or name.startswith("__")
        or (name.startswith("_") and len(name) > 1 and name[1].isupper())
    ):
        raise UsageError(
            f"{what} {name!r} is not a valid C identifier",
            hint=f"use {IDENTIFIER_RULE}, e.g. my_model",
        )
    return name


def _escape_char(c: str) -> str:
    """A visible ASCII escape for a character that is not printable ASCII (Python's spelling)."""
    o = ord(c)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if c in named:
        return named[c]
    if o < 0x100:
        return f"\\x{o:02x}"
    if o < 0x10000:
        return f"\\u{o:04x}"
    return f"\\U{o:08x}"


def _printable_ascii(c: str) -> bool:
    return 0x20 <= ord(c) < 0x7F


def c_comment(text: str) -> str:
    """``text`` as the body of a C/C++ comment (``//`` to the end of the line, or inside ``/* */``).

    One line of printable ASCII: newlines and every other character outside printable ASCII become
    escapes (``\\n``, ``\\xe9``, ``\\u2028``); ``*/`` and ``/*`` are split (``* /``, ``/ *``), ``??``
    becomes ``?\\?`` (no trigraph), a backslash is doubled and the text never ends in one (a
    backslash before the newline would continue a ``//`` comment onto the next line).
    """
    out = []
    for c in str(text):
        if c == "\\":
            out.append("\\\\")
        elif _printable_ascii(c):
            out.append(c)
        else:
            out.append(_escape_char(c))
    s = "".join(out)
    while "*/" in s or "/*" in s:
        s = s.replace("*/", "* /").replace("/*", "/ *")
    s = s.replace("??", "?\\?")
    s = s.rstrip(" ")
    if s.endswith("\\"):
        s += "."  # never a line splice
    return s


def c_string(text: str) -> str:
    """``text`` as the body of a C/C++ string literal (between the double quotes).

    Printable ASCII stays, except backslash, double quote and '?' (escaped: no trigraph can form);
    every other character is written as its UTF-8 bytes in 3-digit octal escapes (``\\303\\251``),
    which, unlike ``\\x``, cannot swallow a following character.
    """
    out = []
    for c in str(text):
        if c in '\\"?':
            out.append("\\" + c)
        elif _printable_ascii(c):
            out.append(c)
        else:
            out.extend(f"\\{b:03o}" for b in c.encode("utf-8", "surrogatepass"))
    return "".join(out)


_CMAKE_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "@": "\\@", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def cmake_string(text: str) -> str:
    """``text`` as the body of a quoted CMake argument ``"..."``: no variable reference, ``@VAR@`` or end quote.

    CMake has no numeric escape: other control characters and unpaired surrogates become U+FFFD.
    """
    out = []
    for c in str(text):
        if c in _CMAKE_ESCAPES:
            out.append(_CMAKE_ESCAPES[c])
        elif c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF:
            out.append(c)
        else:
            out.append("\ufffd")
    return "".join(out)


def cmake_comment(text: str) -> str:
    """``text`` as the rest of a CMake ``#`` line comment: one line of printable ASCII (escapes for the rest)."""
    return "".join(c if _printable_ascii(c) else _escape_char(c) for c in str(text))


def _visible(text: str) -> str:
    """Printable characters kept (non-ASCII included), the rest as visible escapes: one line."""
    return "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else _escape_char(c) for c in str(text))


def markdown_code(text: str) -> str:
    """``text`` as a complete Markdown code span, backticks included: literal whatever it holds."""
    s = _visible(text)
    runs = [len(r) for r in re.findall(r"`+", s)]
    fence = "`" * (max(runs, default=0) + 1)
    if not s or s.startswith("`") or s.endswith("`") or (s.startswith(" ") and s.endswith(" ")):
        s = f" {s} "
    return f"{fence}{s}{fence}"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|&~])")


def markdown_text(text: str) -> str:
    """``text`` as plain Markdown paragraph text: one line, every punctuation Markdown reads escaped."""
    return _MD_SPECIAL.sub(
        r"\\\1", "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else " " for c in str(text))
    )
