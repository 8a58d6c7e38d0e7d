# Pygments colours the chat's code blocks (desktop/ui/highlight.py). PyInstaller's own hook
# bundles all ~260 lexer modules and every style and formatter (about 4 MB of source); this
# one, found first through the spec's hookspath, bundles the languages people paste into a
# chat and the two styles RouteDesk uses. A fence in any other language shows as plain text
# in the frozen app (highlight.lexer_for catches the ImportError); the pip install has all.
LEXERS = (
    "python", "javascript", "c_cpp", "c_like", "jvm", "rust", "go", "shell", "sql", "data",
    "html", "css", "configs", "dotnet", "ruby", "php", "haskell", "r", "scripting", "perl",
    "objective", "diff", "make", "markup", "special", "julia", "erlang", "zig", "graphql",
    "lisp", "ml", "elm", "nix", "fortran", "matlab", "asm",
)
hiddenimports = ["pygments.lexers._mapping", "pygments.styles._mapping"]
hiddenimports += [f"pygments.lexers.{name}" for name in LEXERS]
hiddenimports += ["pygments.styles.default", "pygments.styles.onedark"]
