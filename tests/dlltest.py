"""A Windows DLL built from the public headers exports exactly the API listed in lib/libcontrast.map.

With MinGW-w64 (Debian's gcc-mingw-w64): every function the headers declare with LCT_API gets a
stub definition. Compiled as the library is (LCT_BUILDING_LIBRARY), next to an internal function,
the stubs are linked into a DLL whose export table must equal the version script's symbols. A
program compiled as a DLL user (no macro) must reach every function through the import table
(__imp_ references) and link against the DLL's import library; one compiled with LCT_STATIC links
an archive of the same stubs directly. The programs are only linked: nothing Windows runs here.

Usage: dlltest.py INCLUDE_DIR MAP_FILE. Prints "N passed, N failed"; exit 77 without MinGW.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

CC = "x86_64-w64-mingw32-gcc"
NM = "x86_64-w64-mingw32-nm"
FLAGS = ["-std=c11", "-Wall", "-Wextra", "-pedantic", "-Werror"]


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def exported_declarations(inc):
    """(name, declaration) of every function the headers mark for export."""
    text = run(CC, "-E", "-P", "-DLCT_BUILDING_LIBRARY", "-I" + inc, "-x", "c", "-",
               input="#include <libcontrast/libcontrast.h>\n")
    text = " ".join(text.split())
    # MinGW's preprocessor spells __declspec(x) as __attribute__((x)).
    decls = re.findall(r"(?:__declspec\(dllexport\)|__attribute__\(\(dllexport\)\))\s*([^;{}]*?)\s*;", text)
    return [(re.search(r"(\w+)\s*\(", d).group(1), d) for d in decls]


def stub(decl):
    returns_void = re.match(r"(?:extern\s+)?void\s+\w+\s*\(", decl) is not None
    return decl + (" { }" if returns_void else " { return 0; }")


def main(inc, map_file):
    inc = os.path.abspath(inc)
    if shutil.which(CC) is None:
        print("skip: %s not found (apt-get install gcc-mingw-w64-x86-64)" % CC)
        return 77
    with open(map_file, encoding="utf-8") as f:
        api = set(re.findall(r"^\s*(lct_\w+)\s*;", f.read(), re.M))
    decls = exported_declarations(inc)
    names = [n for n, _ in decls]
    checks = []

    def check(ok, what, detail=""):
        checks.append(ok)
        print(("ok: " if ok else "FAIL: ") + what + (("\n  " + detail) if detail and not ok else ""))

    check(set(names) == api, "the headers mark exactly the %d functions of %s" % (len(api), os.path.basename(map_file)),
          "marked, not in the map: %s; in the map, not marked: %s" % (sorted(set(names) - api), sorted(api - set(names))))

    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "stubs.c")
        with open(src, "w", encoding="utf-8") as f:
            f.write("#include <libcontrast/libcontrast.h>\n")
            f.write("int lct__internal(void);\nint lct__internal(void) { return 1; }\n")
            # Unused parameters are the stubs' nature; everything else must be clean.
            f.write("#pragma GCC diagnostic ignored \"-Wunused-parameter\"\n")
            f.writelines(stub(d) + "\n" for _, d in decls)
        user = os.path.join(tmp, "user.c")
        with open(user, "w", encoding="utf-8") as f:
            f.write("#include <libcontrast/libcontrast.h>\n#include <stdio.h>\n")
            # One assignment per function: an initialiser would be a constant bound to the import thunks.
            f.write("typedef void (*fn)(void);\nint main(void)\n{\n    fn volatile p;\n    unsigned n = 0;\n")
            f.writelines("    p = (fn)%s, n += p != NULL;\n" % n for n in names)
            f.write("    printf(\"%u\\n\", n);\n    return 0;\n}\n")

        def build(*args):
            try:
                run(CC, *FLAGS, "-I" + inc, *args, cwd=tmp)
                return ""
            except subprocess.CalledProcessError as e:
                return e.stderr.strip()

        err = build("-DLCT_BUILDING_LIBRARY", "-c", src, "-o", "stubs.o") or build(
            "-shared", "-o", "libcontrast.dll", "stubs.o", "-Wl,--out-implib,libcontrast.dll.a",
            "-Wl,--output-def,libcontrast.def")
        check(not err, "the stubs compile as the library and link into a DLL", err)
        if not err:
            with open(os.path.join(tmp, "libcontrast.def"), encoding="utf-8") as f:
                exports = set(re.findall(r"^\s+(\w+)\s+@\d+", f.read(), re.M))
            check(exports == api, "the DLL exports exactly the API (%d symbols)" % len(exports),
                  "extra: %s; missing: %s" % (sorted(exports - api), sorted(api - exports)))

        err = build("-c", user, "-o", "user.o")
        undefined = set(run(NM, "-u", os.path.join(tmp, "user.o")).split()) if not err else set()
        imported = {s[len("__imp_"):] for s in undefined if s.startswith("__imp_lct_")}
        check(not err and imported == set(names),
              "a DLL user reaches every function through the import table (__imp_)",
              err or "not imported: %s" % sorted(set(names) - imported))
        if not err:
            err = build("user.o", "-o", "user.exe", "libcontrast.dll.a")
            check(not err, "a DLL user links against the import library", err)

        err = build("-DLCT_STATIC", "-c", src, "-o", "stubs_static.o") or build(
            "-DLCT_STATIC", "-c", user, "-o", "user_static.o")
        if not err:
            run("x86_64-w64-mingw32-ar", "rcs", "libcontrast.a", "stubs_static.o", cwd=tmp)
            direct = set(run(NM, "-u", os.path.join(tmp, "user_static.o")).split())
            err = "" if set(names) <= direct and not any(s.startswith("__imp_lct") for s in direct) else \
                "undefined in user_static.o: %s" % sorted(direct)
            err = err or build("user_static.o", "-o", "user_static.exe", "libcontrast.a")
        check(not err, "with LCT_STATIC a program links the static library directly", err)
    finally:
        shutil.rmtree(tmp)
    failed = checks.count(False)
    print("%d passed, %d failed" % (len(checks) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
