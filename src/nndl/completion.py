"""Shell completion for ``nndl``, generated from its own argument parser.

``nndl completion bash`` prints a bash function that completes the
subcommands, each subcommand's flags (``lr-find`` also takes every ``nndl
train`` flag), the values of flags with a fixed set of choices, and file
names elsewhere.  ``nndl completion zsh`` prints the same function behind
zsh's ``bashcompinit``.  Being generated from the parser, the script lists
exactly the flags this version has; no package is needed to use it.
"""

import argparse
import shlex

SHELLS = ("bash", "zsh")


def _subparsers(parser):
    """{name: subparser} of ``parser``'s subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flags(parser):
    """(every option string, {option: choices}) of ``parser``."""
    flags, choices = [], {}
    for action in parser._actions:
        for option in action.option_strings:
            flags.append(option)
            if action.choices is not None:
                choices[option] = [str(c) for c in action.choices]
    return flags, choices


def bash_script(parser):
    """The bash completion function for ``parser`` (the ``nndl`` parser)."""
    commands = _subparsers(parser)
    train_flags, train_choices = _flags(commands["train"])
    flag_cases, value_cases = [], []
    for name, sub in commands.items():
        flags, choices = _flags(sub)
        if name == "lr-find":                 # lr-find passes the rest to train's parser
            flags = flags + [f for f in train_flags if f not in flags]
            choices = {**train_choices, **choices}
        flag_cases.append(f"        {shlex.quote(name)}) opts={shlex.quote(' '.join(flags))} ;;")
        for option, values in choices.items():
            value_cases.append(f"        {shlex.quote(name + ' ' + option)}) "
                               f"COMPREPLY=($(compgen -W {shlex.quote(' '.join(values))} "
                               '-- "$cur")); return ;;')
    top = " ".join(list(commands) + ["--help", "--version"])
    return "\n".join([
        "# nndl completion for bash: eval \"$(nndl completion bash)\"",
        "_nndl() {",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
        '    local cmd="${COMP_WORDS[1]}" opts=""',
        "    if [[ $COMP_CWORD -eq 1 ]]; then",
        f'        COMPREPLY=($(compgen -W {shlex.quote(top)} -- "$cur")); return',
        "    fi",
        '    case "$cmd $prev" in',
        *value_cases,
        "    esac",
        '    if [[ "$cur" == -* ]]; then',
        '        case "$cmd" in',
        *flag_cases,
        "        esac",
        '        COMPREPLY=($(compgen -W "$opts" -- "$cur")); return',
        "    fi",
        '    COMPREPLY=($(compgen -f -- "$cur"))',
        "}",
        "complete -o filenames -F _nndl nndl",
        ""])


def script(parser, shell):
    """The completion script for ``shell`` ('bash' or 'zsh')."""
    if shell == "zsh":
        return ("# nndl completion for zsh: eval \"$(nndl completion zsh)\"\n"
                "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(parser))
    return bash_script(parser)
