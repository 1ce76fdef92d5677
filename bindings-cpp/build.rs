//! Compiles cxx's glue and the C++ half of the binding (src/gecko.cpp)
//! into the crate, so that libgecko_cpp.a is the whole library. The
//! generated headers land in target/cxxbridge/ (CMake installs them).

fn main() {
    cxx_build::bridge("src/lib.rs")
        .file("src/gecko.cpp")
        .file("src/lowlevel.cpp")
        .include("include")
        .std("c++17")
        .flag_if_supported("-Wall")
        .flag_if_supported("-Wextra")
        .compile("gecko-cpp-glue");
    for f in [
        "src/lib.rs",
        "src/gecko.cpp",
        "src/lowlevel.cpp",
        "src/convert.hpp",
        "src/policy_shim.h",
        "include/gecko/gecko.hpp",
        "include/gecko/lowlevel.hpp",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
}
