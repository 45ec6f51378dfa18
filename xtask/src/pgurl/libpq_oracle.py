"""The oracle for the URL model's tests: what the local libpq makes of each
URL. Reads URLs, one a line, on stdin; writes one line per URL: `error` and
libpq's message, or `ok` and the keywords PQconninfoParse filled in, each
as KEY=VALUE, fields separated by the unit separator (0x1f). Passwords are
never written."""
import ctypes
import ctypes.util
import sys

KEYS = ["host", "hostaddr", "port", "dbname", "user", "sslmode", "connect_timeout"]


class Option(ctypes.Structure):
    _fields_ = [
        ("keyword", ctypes.c_char_p),
        ("envvar", ctypes.c_char_p),
        ("compiled", ctypes.c_char_p),
        ("val", ctypes.c_char_p),
        ("label", ctypes.c_char_p),
        ("dispchar", ctypes.c_char_p),
        ("dispsize", ctypes.c_int),
    ]


def load():
    for name in ["libpq.so.5", ctypes.util.find_library("pq"), "libpq.5.dylib"]:
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            pass
    sys.stderr.write("libpq not found: install it (Debian/Ubuntu: apt-get install postgresql-client or libpq5)\n")
    sys.exit(3)


def main():
    lib = load()
    lib.PQconninfoParse.restype = ctypes.POINTER(Option)
    lib.PQconninfoParse.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
    lib.PQconninfoFree.argtypes = [ctypes.POINTER(Option)]
    lib.PQfreemem.argtypes = [ctypes.c_void_p]
    out = sys.stdout.buffer
    for line in sys.stdin.buffer.read().split(b"\n"):
        if not line:
            continue
        err = ctypes.c_char_p()
        opts = lib.PQconninfoParse(line, ctypes.byref(err))
        if not opts:
            message = (err.value or b"").strip().replace(b"\n", b" ")
            out.write(b"error\x1f" + message + b"\n")
            continue
        fields = [b"ok"]
        i = 0
        while opts[i].keyword:
            key = opts[i].keyword.decode()
            if key in KEYS and opts[i].val is not None:
                fields.append(key.encode() + b"=" + opts[i].val)
            i += 1
        lib.PQconninfoFree(opts)
        out.write(b"\x1f".join(fields) + b"\n")


main()
