// The version string the compiler stamps on every Executable it writes. It lives here,
// below the compiler, because it is part of a bundle's key: a runtime-only build (no
// codegen) computes the key of the Executable it needs with it.
#ifndef KILN_EXECUTOR_COMPILERVERSION_H
#define KILN_EXECUTOR_COMPILERVERSION_H

namespace kiln {

inline constexpr const char *kKilnCompilerVersion = "kiln-0.2.0";

} // namespace kiln

#endif // KILN_EXECUTOR_COMPILERVERSION_H
