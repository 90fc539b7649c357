#!/bin/sh
# git-aisync hook (written by `git aisync install`; `git aisync uninstall` removes it and
# puts back the hook that was here before).
# The hook's name is written in, not read from $0: the pre-commit framework, installed again
# over this file, keeps it as pre-commit.legacy and runs it under that name. The hook that was
# here before sits beside it, under the hook's own name.
hook=@HOOK@
case $0 in
    */*) chained="${0%/*}/$hook.aisync-chained" ;;
    *) chained="./$hook.aisync-chained" ;;
esac
bin=@BIN@

# post-commit only hands the push to a background sync: the commit does not wait for our
# binary. Nothing to hand where autopush is off for this shell, or inside a sync cycle.
handoff() {
    case ${AISYNC_AUTOPUSH-} in 0 | false | no | off) exit 0 ;; esac
    [ -n "${AISYNC_CYCLE-}" ] && exit 0
    [ -x "$bin" ] || bin=git-aisync
    "$bin" hook post-commit "$@" < /dev/null > /dev/null 2>&1 &
    exit 0
}
# Without a hook to chain, our binary at once (the shell reads no further): post-commit
# hands off, the others take git's arguments and stdin as they are.
if [ ! -e "$chained" ] && [ -x "$bin" ]; then
    [ "$hook" = post-commit ] && handoff "$@"
    exec "$bin" hook "$hook" "$@"
fi

# The binary moved? Fall back to PATH (`git aisync doctor` reports it).
if [ ! -x "$bin" ]; then
    if command -v git-aisync >/dev/null 2>&1; then
        bin=git-aisync
    else
        echo "git-aisync: this $hook hook runs $bin, which is gone, and git-aisync is not on PATH: run \`git aisync install\` again from the binary's new place (\`git aisync doctor\` checks the setup)" >&2
        # The checks that guard what leaves this machine fail closed; the others stand aside.
        case $hook in pre-commit | pre-push) exit 1 ;; *) exit 0 ;; esac
    fi
fi

# pre-push reads the refs from stdin: both hooks get them.
input=
if [ "$hook" = pre-push ]; then
    input=$(mktemp "${TMPDIR:-/tmp}/aisync-hook.XXXXXX") || exit 1
    trap 'rm -f "$input"' EXIT
    cat > "$input"
fi

# The shell that runs a script the way the kernel would from its #! line (the interpreter and
# its one optional argument), when that interpreter is a POSIX-style shell: such a hook is run
# by that shell with its own name as $0 (husky finds its scripts by that name). Sets $shell
# (empty for anything else, which is then executed as git would) and $argument.
shell_of() {
    shell=
    argument=
    line=
    IFS= read -r line < "$1" || [ -n "$line" ] || return 0
    case $line in '#!'*) ;; *) return 0 ;; esac
    line=${line#??}
    set -f
    # shellcheck disable=SC2086 # split the #! line into words, as the kernel does
    set -- $line
    set +f
    [ $# -ge 1 ] || return 0
    interpreter=$1
    shift
    # The kernel passes the rest of the line as one argument.
    rest="$*"
    if [ "${interpreter##*/}" = env ]; then
        # `#!/usr/bin/env sh`: env looks the one word up on PATH.
        [ $# -eq 1 ] || return 0
        interpreter=$1
        rest=
    fi
    case ${interpreter##*/} in
        sh | bash | dash | zsh | ksh | mksh | ash | posh) ;;
        *) return 0 ;;
    esac
    shell=$interpreter
    argument=$rest
}

# A hook that was here before runs first, and if it fails, so does this one. Like git, only
# an executable one runs; and not one that is back in its place already (the pre-commit
# framework, installed again over ours, runs us from its own hook: the same file).
if [ -f "$chained" ] && [ -x "$chained" ] && ! cmp -s "$chained" "${chained%.aisync-chained}"; then
    if [ -n "$input" ]; then exec 3<"$input"; else exec 3<&0; fi
    shell_of "$chained"
    if [ -n "$shell" ]; then
        if [ -n "$argument" ]; then
            AISYNC_CHAINED=$chained "$shell" "$argument" -c '. "$AISYNC_CHAINED"' "$0" "$@" <&3 || exit $?
        else
            AISYNC_CHAINED=$chained "$shell" -c '. "$AISYNC_CHAINED"' "$0" "$@" <&3 || exit $?
        fi
    else
        "$chained" "$@" <&3 || exit $?
    fi
fi

if [ "$hook" = post-commit ]; then
    handoff "$@"
fi
if [ -n "$input" ]; then
    "$bin" hook "$hook" "$@" < "$input"
else
    exec "$bin" hook "$hook" "$@"
fi
