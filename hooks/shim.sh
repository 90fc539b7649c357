#!/bin/sh
# git-aisync hook (written by `git aisync install`; `git aisync uninstall` removes it and
# puts back the hook that was here before).
# The hook's name is written in, not read from $0: the pre-commit framework, installed again
# over this file, keeps it as pre-commit.legacy and runs it under that name.
hook=@HOOK@
chained="$0.aisync-chained"
bin=@BIN@
# The binary moved? Fall back to PATH (`git aisync doctor` reports it).
[ -x "$bin" ] || bin=git-aisync

# pre-push reads the refs from stdin: both hooks get them.
input=
if [ "$hook" = pre-push ]; then
    input=$(mktemp "${TMPDIR:-/tmp}/aisync-hook.XXXXXX") || exit 1
    trap 'rm -f "$input"' EXIT
    cat > "$input"
fi

# A hook that was here before runs first, and if it fails, so does this one. A shell hook is
# sourced with its own name as $0 (husky finds its scripts by that name).
if [ -f "$chained" ]; then
    case $(head -n 1 "$chained") in
        '#!'*bash*) shell=bash ;;
        '#!'*zsh*) shell=zsh ;;
        '#!'*sh*) shell=sh ;;
        *) shell= ;;
    esac
    if [ -n "$input" ]; then exec 3<"$input"; else exec 3<&0; fi
    if [ -n "$shell" ]; then
        AISYNC_CHAINED=$chained "$shell" -c '. "$AISYNC_CHAINED"' "$0" "$@" <&3 || exit $?
    else
        "$chained" "$@" <&3 || exit $?
    fi
fi

if [ -n "$input" ]; then
    "$bin" hook "$hook" "$@" < "$input"
else
    exec "$bin" hook "$hook" "$@"
fi
