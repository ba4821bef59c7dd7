//! Build script: generates the parser from `grammar/toy.lalrpop` into `OUT_DIR`
//! (loaded by `src/parser.rs` with `lalrpop_util::lalrpop_mod!`). Cargo reruns it only when
//! the grammar or this script changes.
fn main() {
    println!("cargo:rerun-if-changed=grammar/toy.lalrpop");
    println!("cargo:rerun-if-changed=build.rs");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    lalrpop::Configuration::new()
        .set_in_dir("grammar")
        .set_out_dir(out_dir)
        .emit_rerun_directives(true)
        .process()
        .unwrap();
}
