//! The adapters: one table per assistant, from `../shared/ASSISTANTS.md` (late 2026).
//! Vendors move files: correcting one is editing its rows here. A file no rule names stays
//! local, so a table that lags behind a vendor never syncs something it should not.

use super::{Adapter, Class, Env, Live, Place, Projection, Rule};

const fn rule(pattern: &'static str, class: Class) -> Rule {
    Rule { pattern, class }
}

use Class::{Derived, Local, OptIn, Portable, Secret};

/// A folder under the home folder, moved by `var` when it is set.
const fn home_dir(rel: &'static str, var: Option<&'static str>, rules: &'static [Rule]) -> Place {
    Place {
        live: Live::Home(Some(rel)),
        env: match var {
            Some(var) => Some(Env { var, join: "" }),
            None => None,
        },
        file: false,
        repo: "",
        rules,
        projection: None,
        projects: None,
        in_project: false,
    }
}

/// A single portable file under the home folder, at `repo` in the assistant's folder.
const fn home_file(rel: &'static str, repo: &'static str) -> Place {
    Place {
        live: Live::Home(Some(rel)),
        env: None,
        file: true,
        repo,
        rules: &[],
        projection: None,
        projects: None,
        in_project: false,
    }
}

/// A folder inside each project checkout (`.cursor/rules`), its files portable where
/// `rules` says.
const fn project_dir(rel: &'static str, rules: &'static [Rule]) -> Place {
    Place {
        live: Live::Home(Some(rel)),
        env: None,
        file: false,
        repo: rel,
        rules,
        projection: None,
        projects: None,
        in_project: true,
    }
}

/// What an assistant writes beside a file while it saves it.
const BUSY: &[&str] = &["*.lock", "*.tmp", "*.tmp.*", ".*.swp"];

pub static ADAPTERS: &[Adapter] = &[
    Adapter {
        name: "claude-code",
        title: "Claude Code",
        places: &[
            Place {
                projects: Some("projects"),
                ..home_dir(
                    ".claude",
                    Some("CLAUDE_CONFIG_DIR"),
                    &[
                        rule(".credentials.json", Secret),
                        rule("settings.local.json", Local),
                        rule("{CLAUDE.md,settings.json,keybindings.json}", Portable),
                        rule("{rules,commands,agents}/**/*.md", Portable),
                        rule("skills/**", Portable),
                        rule("agent-memory/**", Portable),
                        rule("themes/*.json", Portable),
                        rule("projects/*/memory/**", Portable),
                        rule("projects/*/*.jsonl", OptIn),
                        rule("projects/*/*/subagents/**", OptIn),
                        rule("history.jsonl", OptIn),
                        rule("plugins/{installed_plugins,known_marketplaces}.json", Local),
                        rule("plugins/**", Derived),
                        rule(
                            "{file-history,plans,todos,tasks,shell-snapshots,session-env,debug,statsig,paste-cache,image-cache,backups,ide,projects}/**",
                            Derived,
                        ),
                        rule("stats-cache.json", Derived),
                    ],
                )
            },
            Place {
                live: Live::Home(Some(".claude.json")),
                // With CLAUDE_CONFIG_DIR set, Claude Code keeps the file inside that folder.
                env: Some(Env {
                    var: "CLAUDE_CONFIG_DIR",
                    join: ".claude.json",
                }),
                file: true,
                repo: "claude.json",
                rules: &[],
                // User-scope MCP servers; `projects` (keyed by absolute path), the account
                // and the counters are this machine's.
                projection: Some(Projection::JsonMembers(&["mcpServers"])),
                projects: None,
                in_project: false,
            },
        ],
        busy: BUSY,
    },
    Adapter {
        name: "codex",
        title: "Codex CLI",
        places: &[
            home_dir(
                ".codex",
                Some("CODEX_HOME"),
                &[
                    rule("auth.json", Secret),
                    rule("{AGENTS.md,AGENTS.override.md,hooks.json}", Portable),
                    rule("{prompts,skills,rules}/**", Portable),
                    rule("sessions/**/*.jsonl", OptIn),
                    rule("{history,session_index}.jsonl", OptIn),
                    rule("{memories,log,cache}/**", Derived),
                    rule("*.sqlite*", Derived),
                ],
            ),
            Place {
                live: Live::Home(Some(".codex/config.toml")),
                env: Some(Env {
                    var: "CODEX_HOME",
                    join: "config.toml",
                }),
                file: true,
                repo: "config.toml",
                rules: &[],
                // Trust per absolute path and per-machine hook trust hashes stay here.
                projection: Some(Projection::TomlWithout(&["projects", "hooks.state"])),
                projects: None,
                in_project: false,
            },
        ],
        busy: BUSY,
    },
    Adapter {
        name: "gemini",
        title: "Gemini CLI",
        places: &[home_dir(
            ".gemini",
            None,
            &[
                rule(
                    "{oauth_creds.json,google_accounts.json,mcp-oauth-tokens.json,.env}",
                    Secret,
                ),
                rule("{projects.json,trustedFolders.json}", Local),
                rule("{GEMINI.md,settings.json}", Portable),
                rule("{commands,skills,agents,policies}/**", Portable),
                rule("tmp/*/chats/*.jsonl", OptIn),
                rule("{history,tmp}/**", Derived),
            ],
        )],
        busy: BUSY,
    },
    Adapter {
        name: "cursor",
        title: "Cursor",
        places: &[
            home_dir(
                ".cursor",
                None,
                &[
                    rule("{mcp.json,hooks.json}", Portable),
                    rule("{extensions,projects,ide_state.json}/**", Derived),
                ],
            ),
            project_dir(".cursor/rules", &[rule("**/*.{mdc,md}", Portable)]),
        ],
        busy: BUSY,
    },
    Adapter {
        name: "copilot",
        title: "GitHub Copilot CLI",
        places: &[home_dir(
            ".copilot",
            Some("COPILOT_HOME"),
            &[
                rule("config.json", Secret),
                rule("permissions-config.json", Local),
                rule("{settings.json,mcp-config.json,copilot-instructions.md}", Portable),
                rule("{agents,prompts,instructions}/**/*.md", Portable),
                rule("{session-state,history-session-state}/**", OptIn),
                rule("{logs,pkg}/**", Derived),
            ],
        ),
        project_dir(
            ".github",
            &[
                rule("copilot-instructions.md", Portable),
                rule("instructions/**/*.instructions.md", Portable),
                rule("prompts/**/*.prompt.md", Portable),
            ],
        )],
        busy: BUSY,
    },
    Adapter {
        name: "cline",
        title: "Cline",
        places: &[
            home_dir("Documents/Cline/Rules", None, &[rule("**/*.{md,txt}", Portable)]),
            project_dir("memory-bank", &[rule("**/*.md", Portable)]),
            project_dir(".clinerules", &[rule("**/*", Portable)]),
        ],
        busy: BUSY,
    },
    Adapter {
        name: "windsurf",
        title: "Windsurf",
        places: &[home_dir(
            ".codeium/windsurf",
            None,
            &[
                rule("memories/global_rules.md", Portable),
                rule("mcp_config.json", Portable),
                rule("memories/**", Derived),
            ],
        ),
        project_dir(".windsurf/rules", &[rule("**/*.md", Portable)]),
        ],
        busy: BUSY,
    },
    Adapter {
        name: "continue",
        title: "Continue",
        places: &[home_dir(
            ".continue",
            Some("CONTINUE_GLOBAL_DIR"),
            &[
                rule("config.yaml", Portable),
                rule("{mcpServers,rules,prompts}/*.{yaml,yml,md}", Portable),
                rule(".env", Secret),
                rule("sessions/**", OptIn),
                rule("{index,logs,dev_data}/**", Derived),
            ],
        )],
        busy: BUSY,
    },
    Adapter {
        name: "aider",
        title: "aider",
        places: &[home_file(".aider.conf.yml", ".aider.conf.yml")],
        busy: BUSY,
    },
    Adapter {
        name: "mcp-memory",
        title: "MCP memory server",
        places: &[Place {
            live: Live::Home(None),
            env: Some(Env {
                var: "MEMORY_FILE_PATH",
                join: "",
            }),
            file: true,
            repo: "memory.jsonl",
            rules: &[],
            projection: None,
            projects: None,
            in_project: false,
        }],
        busy: BUSY,
    },
];
