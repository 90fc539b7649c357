//! `git aisync mcp`: an MCP server on stdio (DESIGN §9). An assistant starts it in a
//! project's folder, so the synced repository is found as every command outside one finds
//! it (`aisync.repo`); with none, it still serves, and every tool says how to make one.
//! stdout carries the protocol alone (rmcp writes it); what a person may read goes to stderr.
//! The tools and their answers are the library's ([`git_aisync::mcp`]).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Map, Value};

use super::CommandContext;
use crate::ui::Ui;
use git_aisync::mcp::{self, Answer};

#[derive(clap::Args)]
pub struct Args {}

/// How long a tool call other than `sync_now` may take before the answer says it goes on in
/// the background (a restore may wait for a running sync's lock).
const CALL_LIMIT: Duration = Duration::from_secs(150);

pub fn run(ctx: &CommandContext, _args: Args) -> Result<ExitCode> {
    let dir = ctx.cwd()?.to_path_buf();
    match ctx.synced_repo() {
        Ok(repo) => ctx.ui.status(&format!(
            "mcp: serving {} on stdio",
            repo.work_tree.display()
        )),
        Err(e) => ctx.ui.status(&format!(
            "mcp: no synced repository here ({e:#}); serving anyway: each tool says how to make one"
        )),
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the MCP server's runtime")?;
    let served = runtime.block_on(async {
        let service = Server { dir }
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| anyhow::anyhow!("the MCP handshake failed: {e}"))?;
        service
            .waiting()
            .await
            .context("the MCP server stopped unexpectedly")
    });
    // A cycle still running in the background (a `sync_now` past its bound) gets a while to
    // finish; one cut anyway is safe (DESIGN §3), only later.
    runtime.shutdown_timeout(Duration::from_secs(30));
    match served {
        Ok(reason) => {
            ctx.ui.status(&format!("mcp: stopped ({reason:?})"));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e),
    }
}

/// The server; `dir`: where it was started (or `-C`), from which each call finds the
/// synced repository anew.
struct Server {
    dir: std::path::PathBuf,
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("git-aisync", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "git-aisync keeps this assistant's memory and settings in sync across the user's machines with git. \
                 Use sync_status to see how syncing stands, recent_changes to see what other machines changed, \
                 conflicts to find values a merge overrode (both versions are kept), sync_now to sync at once, \
                 and restore (with an explicit reference) to bring an earlier version back.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = mcp::tools()
            .into_iter()
            .map(|t| {
                let schema = match t.schema {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                rmcp::model::Tool::new(t.name, t.description, schema).with_annotations(
                    ToolAnnotations::new()
                        .read_only(t.read_only)
                        .destructive(false),
                )
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        if !mcp::tools().iter().any(|t| t.name == name) {
            return Err(ErrorData::invalid_params(format!("no tool `{name}`"), None));
        }
        let args = request.arguments.unwrap_or_default();
        let limit = if name == mcp::SYNC_NOW {
            match mcp::count_arg(&args, "timeout_seconds", 60, 600) {
                Ok(secs) => Duration::from_secs(secs),
                Err(e) => return Ok(result(&Answer::error(format!("{e:#}")))),
            }
        } else {
            CALL_LIMIT
        };
        let call = {
            let name = name.clone();
            let dir = self.dir.clone();
            tokio::task::spawn_blocking(move || answer(&dir, &name, &args))
        };
        let answer = match tokio::time::timeout(limit, call).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => Answer::error(format!("the {name} call failed inside the server: {e}")),
            // Not a failure: the work goes on, and its outcome will be the last sync's.
            Err(_) => Answer {
                summary: format!(
                    "{name} is still running after {} seconds; it goes on in the background: call sync_status later to see how it ended",
                    limit.as_secs()
                ),
                data: serde_json::json!({ "outcome": "running", "waited_seconds": limit.as_secs() }),
                is_error: false,
            },
        };
        Ok(result(&answer))
    }
}

/// The answer to a tool call, on a thread that may block (git, the repository lock).
fn answer(dir: &std::path::Path, name: &str, args: &Map<String, Value>) -> Answer {
    // Found anew each call: `init` or `connect` may have run since the server started.
    let ctx = CommandContext::new(Ui::new(), Some(dir.to_path_buf()));
    match ctx.synced_repo() {
        Ok(repo) => mcp::call(repo, name, args),
        Err(e) => mcp::no_repository(&format!("{e:#}")),
    }
}

fn result(answer: &Answer) -> CallToolResponse {
    let content = vec![ContentBlock::text(answer.text())];
    let mut result = if answer.is_error {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    };
    if answer.data.is_object() {
        result.structured_content = Some(answer.data.clone());
    }
    result.into()
}
