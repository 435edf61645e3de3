//! `lakegate revoke`: takes away access, never less than asked (DESIGN §3
//! rule 11).

use grpc_proxy::proto::GrantRequest;

use super::Global;
use super::grant::{ResourceArgs, Who, describe_entry};
use crate::client::connect;
use crate::exit::CliError;
use crate::output;

/// `revoke --principal ID --permissions P,.. [--grantable P,..] <resource>`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    who: Who,
    #[command(flatten)]
    resource: ResourceArgs,
}

/// Sends the revoke.
pub async fn run(a: Args, g: &Global) -> Result<(), CliError> {
    let req = GrantRequest {
        principal: a.who.principal,
        permissions: a.who.permissions,
        grantable: a.who.grantable,
        resource: Some(a.resource.spec()),
        masks: Default::default(),
    };
    let mut c = connect(g).await?;
    let r = c
        .client
        .revoke(req)
        .await
        .map_err(|s| c.fail(s))?
        .into_inner();
    if g.json {
        return output::json(&r);
    }
    println!(
        "revoked; {} grant(s) removed, {} narrowed",
        r.removed.len(),
        r.narrowed.len()
    );
    for e in &r.narrowed {
        println!("  now: {} [{}]", describe_entry(e), e.id);
    }
    Ok(())
}
