//! Commands printed for the user to run: this program's own name as the
//! shell finds it, and paths as shell words. A printed command must run
//! exactly as printed, from the directory the user is in (issue 16: after
//! `cargo build --release`, `rongxinctl` is not on the PATH).

use std::path::Path;

/// How to call this program from the current directory: `rongxinctl` when
/// that name on the PATH is this very file (as after `cargo install --path
/// admin-cli`), else its path (`target/release/rongxinctl` in a checkout).
pub fn program() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "rongxinctl".to_owned();
    };
    let name = exe
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "rongxinctl".to_owned());
    let me = exe.canonicalize().unwrap_or_else(|_| exe.clone());
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(&name))
            .find(|p| p.is_file())
            .and_then(|p| p.canonicalize().ok())
            .is_some_and(|p| p == me)
    });
    if on_path { name } else { shown(&exe) }
}

/// A path as a shell word for a printed command: relative to the current
/// directory when it is inside it, quoted when it needs quoting.
pub fn shown(path: &Path) -> String {
    let rel = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf());
    word(&rel)
}

/// `path` quoted for a POSIX shell when it needs quoting.
fn word(path: &Path) -> String {
    let text = path.to_string_lossy();
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:=,".contains(&b))
    {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn plain_paths_stay_and_others_are_quoted() {
        assert_eq!(
            word(&PathBuf::from("target/release/rongxinctl")),
            "target/release/rongxinctl"
        );
        assert_eq!(word(&PathBuf::from("/tmp/a b")), "'/tmp/a b'");
        assert_eq!(word(&PathBuf::from("it's")), "'it'\\''s'");
    }

    #[test]
    fn paths_inside_the_current_directory_are_relative() {
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(
            shown(&cwd.join("config-examples/root.pub")),
            "config-examples/root.pub"
        );
        assert_eq!(
            shown(Path::new("/elsewhere/root.pub")),
            "/elsewhere/root.pub"
        );
    }
}
