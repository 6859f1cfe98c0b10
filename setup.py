"""Build the Cython extensions of fastconv.

Every ``src/fastconv/_ext/*.pyx`` becomes ``fastconv._ext.<name>``.  The C
kernels live in ``include/fastconv`` and are compiled into the extensions
that include them.

Environment switches:
  FASTCONV_NO_OPENMP=1   build serially even if the compiler supports OpenMP
  FASTCONV_NATIVE=1      add -march=native (local builds only, never shipped)
  FASTCONV_DEBUG=1       -O0 -g and C asserts on
  FASTCONV_SANITIZE=address,undefined
                         build with those sanitizers (-fsanitize=..., -g, -O1 unless
                         CFLAGS names a level); OpenMP stays on, probed with the same
                         flags.  Run with the sanitizer runtime preloaded: see .ci/sanitize
  FASTCONV_ONLY=a,b      development: build only the extensions _ext/a.pyx, _ext/b.pyx
"""

import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))

OPENMP_PROBE = r"""
#include <omp.h>
#include <stdio.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    printf("%d\n", n > 0);
    return n > 0 ? 0 : 1;
}
"""


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _user_sets_opt_level():
    """True when the user's CFLAGS name an optimisation level (-O0 ... -Ofast),
    which then wins over ours."""
    return any(f.startswith("-O") for f in os.environ.get("CFLAGS", "").split())


def _sanitize_flags():
    """(compile_args, link_args) for FASTCONV_SANITIZE, e.g. "address,undefined"."""
    names = [n.strip() for n in os.environ.get("FASTCONV_SANITIZE", "").split(",") if n.strip()]
    if not names:
        return [], []
    flag = "-fsanitize=" + ",".join(names)
    cflags = [flag, "-fno-omit-frame-pointer", "-g"]
    if "undefined" in names:
        # report misaligned loads, not just crash on them; halt_on_error stops the run
        cflags.append("-fno-sanitize-recover=undefined")
    return cflags, [flag]


def _openmp_flags(compiler, extra_compile=(), extra_link=()):
    """(compile_args, link_args) for OpenMP, or None when it does not work.

    The probe compiles, links and runs a tiny program, so a compiler that
    accepts the flag but has no runtime (Apple clang without libomp) is
    detected here rather than at import time.  It is built with the other
    flags of the build (the sanitizers'), which must link too.
    """
    ctype = compiler.compiler_type
    if ctype == "msvc":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    tmp = tempfile.mkdtemp(prefix="fastconv-omp-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(OPENMP_PROBE)
        for cflags, lflags in candidates:
            try:
                objs = compiler.compile([src], output_dir=tmp,
                                        extra_postargs=list(extra_compile) + cflags)
                exe = os.path.join(tmp, "probe" + (".exe" if ctype == "msvc" else ""))
                compiler.link_executable(objs, exe,
                                         extra_postargs=list(extra_link) + lflags)
                subprocess.run([exe], check=True, capture_output=True, timeout=60)
            except Exception:  # any failure means: no usable OpenMP with these flags
                continue
            return cflags, lflags
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    def build_extensions(self):
        ctype = self.compiler.compiler_type
        san_c, san_l = ([], []) if ctype == "msvc" else _sanitize_flags()
        if ctype == "msvc":
            cflags = ["/O2"]
        else:
            level = "-O1" if san_c else "-O3"
            if _env_flag("FASTCONV_DEBUG"):
                level = "-O0"
            # extra_compile_args come after CFLAGS: a level the user set must win
            # -ffp-contract=off: a multiply-add is fused where the kernel says so
            # (intrinsics, __builtin_fma), never by the compiler's choice, which
            # varies with the optimisation level and the vectoriser's loop shapes
            # and so rounded one point differently from its neighbour
            cflags = ([] if _user_sets_opt_level() else [level]) + [
                "-fno-math-errno", "-ffp-contract=off", "-Wno-unused-function"] + san_c
            if _env_flag("FASTCONV_DEBUG"):
                cflags.append("-g")
            if _env_flag("FASTCONV_NATIVE"):
                cflags.append("-march=native")
        lflags = list(san_l)
        omp = None
        if _env_flag("FASTCONV_NO_OPENMP"):
            print("fastconv: FASTCONV_NO_OPENMP set, building without OpenMP")
        else:
            omp = _openmp_flags(self.compiler, san_c, san_l)
            if omp is None and san_c:
                raise RuntimeError("fastconv: FASTCONV_SANITIZE is set but OpenMP does not "
                                   "build with the sanitizers; a serial build would hide races")
            if omp is None:
                warnings.warn("fastconv: the compiler has no working OpenMP; building serially")
        macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
        if omp is not None:
            cflags += omp[0]
            lflags += omp[1]
            macros.append(("FASTCONV_OPENMP", "1"))
        if not _env_flag("FASTCONV_DEBUG") and not san_c:   # sanitised builds keep asserts
            macros.append(("NDEBUG", "1"))
        compiler_name = os.path.basename(str(sysconfig.get_config_var("CC") or ctype)).split()[0]
        for ext in self.extensions:
            ext.extra_compile_args = list(cflags)
            ext.extra_link_args = list(lflags)
            ext.define_macros = list(ext.define_macros) + macros + [
                ("FASTCONV_COMPILER", '"%s"' % compiler_name.replace('"', "")),
            ]
        super().build_extensions()


def extensions():
    exts = []
    only = {n.strip() for n in os.environ.get("FASTCONV_ONLY", "").split(",") if n.strip()}
    for pyx in sorted(glob.glob(os.path.join("src", "fastconv", "_ext", "*.pyx"))):
        name = os.path.splitext(os.path.basename(pyx))[0]
        if only and name not in only:
            continue
        exts.append(
            Extension(
                "fastconv._ext." + name,
                [pyx],
                include_dirs=[np.get_include(), "include"],
                depends=glob.glob(os.path.join("include", "fastconv", "*.h")),
            )
        )
    return cythonize(
        exts,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
