# Sourced by the test scripts: `find_python 3.11` prints the path of a python3.11 (pyenv's first, then PATH's)
# and fails when there is none.
find_python() {
    local v="$1" p
    for p in "$HOME"/.pyenv/versions/"$v".*/bin/python"$v" "$(command -v "python$v" 2>/dev/null)"; do
        if [ -x "$p" ]; then echo "$p"; return 0; fi
    done
    return 1
}
