//! Promise: the simulated Lync Management Shell runs the failover's cmdlets with their real
//! parameters against the same state as the SQL instances, and fails (exit 1, error text) on
//! bad parameters or an unreachable Central Management Store.

mod common;

use common::*;
use runledger_sim::Scenario;

#[test]
fn pool_state_and_active_servers() {
    let dc = Dc::new(Scenario::Normal);
    assert!(ok(&dc, "Get-CsPersistentChatState").contains("PoolState : Normal"));
    for identity in [
        "service:pchat.contoso.local",
        "PersistentChatServer:pchat.contoso.local",
        "\"service: pchat.contoso.local\"",
    ] {
        ok(
            &dc,
            &format!("Get-CsPersistentChatState -Identity {identity}"),
        );
    }
    assert!(fails(
        &dc,
        "Get-CsPersistentChatState -Identity service:other.contoso.local"
    )
    .contains("does not exist"));
    ok(&dc, "Set-CsPersistentChatState -Identity \"service:pchat.contoso.local\" -PoolState FailedOver -Confirm:$false");
    assert!(ok(
        &dc,
        "Get-CsPersistentChatState -Identity PersistentChatServer:pchat.contoso.local"
    )
    .contains("FailedOver"));
    assert!(fails(
        &dc,
        "Set-CsPersistentChatState -Identity service:pchat.contoso.local -PoolState Broken"
    )
    .contains("Normal, FailedOver"));
    ok(
        &dc,
        "Set-CsPersistentChatActiveServer -Identity global -ActiveServers $null",
    );
    ok(&dc, "Set-CsPersistentChatActiveServer -Identity global -ActiveServers @{Replace=\"pcdr01.contoso.local\",\"pcdr02.contoso.local\"}");
    assert!(ok(&dc, "Get-CsService -PersistentChatServer")
        .contains("{pcdr01.contoso.local, pcdr02.contoso.local}"));
    assert!(fails(
        &dc,
        "Set-CsPersistentChatActiveServer -ActiveServers nothere.contoso.local"
    )
    .contains("nothere.contoso.local"));
    assert!(fails(&dc, "Set-CsPersistentChatState -Bogus 1")
        .contains("A parameter cannot be found that matches parameter name 'Bogus'"));
    assert!(fails(&dc, "Get-CsNothing").contains("is not recognized"));
    let status = runledger_sim::status(dc.path()).unwrap();
    assert_eq!(status.pool.pool_state, "FailedOver");
    assert_eq!(
        status.pool.active_servers,
        ["pcdr01.contoso.local", "pcdr02.contoso.local"]
    );
    let shell: Vec<&str> = status
        .history
        .iter()
        .filter(|h| h.system == "cs-shell")
        .map(|h| h.command.as_str())
        .collect();
    assert_eq!(shell.len(), 3);
    let replication = ok(&dc, "Get-CsManagementStoreReplicationStatus");
    assert!(replication.contains("UpToDate") && replication.contains("pcdr01.contoso.local"));
}

#[test]
fn install_cs_mirror_database_establishes_mirroring_seen_in_sys_database_mirroring() {
    let dc = Dc::new(Scenario::Normal);
    let line = "Install-CsMirrorDatabase -DatabaseType PersistentChat -FileShare \\\\pcfsdr01\\mirror -SqlServerFqdn pcsqldr01.contoso.local -Confirm:$false";
    assert!(fails(&dc, "Install-CsMirrorDatabase -DatabaseType PersistentChat -FileShare \\\\fs\\m -SqlServerFqdn pcsqldr01.contoso.local -MirrorSqlServerFqdn pcsqldr02.contoso.local").contains("MirrorSqlServerFqdn"));
    assert!(
        fails(&dc, line).contains("RESTORING"),
        "mgc must be ONLINE first"
    );
    // The cmdlet asks for each database; a non-interactive host cannot answer.
    assert!(fails(&dc, &line.replace(" -Confirm:$false", "")).contains("NonInteractive"));
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        batch(&mut c, "RESTORE DATABASE mgc WITH RECOVERY")
            .await
            .unwrap();
    });
    // Both SQL Servers must reach the file share the database travels through.
    let other_share = line.replace("pcfsdr01", "pcfsdr02");
    assert!(fails(&dc, &other_share).contains("The network path was not found"));
    assert!(ok(&dc, line).contains("successfully established"));
    assert!(fails(&dc, line).contains("-DropExistingDatabasesOnMirror"));
    let installing = std::time::Instant::now();
    ok(&dc, &format!("{line} -DropExistingDatabasesOnMirror"));
    let probe = "SELECT mirroring_role_desc, mirroring_state_desc, mirroring_partner_instance FROM sys.database_mirroring WHERE database_id = DB_ID(N'mgc')";
    rt().block_on(async {
        let mut c = connect(dc.bak()).await;
        let r = batch(&mut c, probe).await.unwrap();
        assert_eq!(r[0][0].get::<&str, _>(0), Some("PRINCIPAL"));
        // A new session first catches up. Read within SYNC_MS of the cmdlet's start, it cannot
        // have caught up yet; a slower reading (a loaded machine) may already see it done.
        let state = r[0][0].get::<&str, _>(1);
        if installing.elapsed().as_millis() < runledger_sim::mirroring::SYNC_MS as u128 {
            assert_eq!(state, Some("SYNCHRONIZING"), "a new session first catches up");
        } else {
            assert!(matches!(state, Some("SYNCHRONIZING" | "SYNCHRONIZED")), "{state:?}");
        }
        assert_eq!(r[0][0].get::<&str, _>(2), Some("PCSQLDR02"));
        let endpoints = batch(&mut c, "SELECT state_desc, role_desc FROM sys.database_mirroring_endpoints; SELECT port FROM sys.tcp_endpoints WHERE type_desc = 'DATABASE_MIRRORING'").await.unwrap();
        assert_eq!(endpoints[0][0].get::<&str, _>(0), Some("STARTED"));
        assert_eq!(endpoints[1][0].get::<i32, _>(0), Some(5022));
        let start = std::time::Instant::now();
        loop {
            let r = batch(&mut c, probe).await.unwrap();
            if r[0][0].get::<&str, _>(1) == Some("SYNCHRONIZED") {
                break;
            }
            assert!(start.elapsed().as_secs() < 10, "never SYNCHRONIZED");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let mut m = connect(dc.bak_m()).await;
        let r = batch(
            &mut m,
            &format!("SELECT state_desc FROM sys.databases WHERE name = N'mgc'; {probe}"),
        )
        .await
        .unwrap();
        assert_eq!(r[0][0].get::<&str, _>(0), Some("RESTORING"));
        assert_eq!(r[1][0].get::<&str, _>(0), Some("MIRROR"));
    });
}

#[test]
fn an_unreachable_cms_fails_every_cmdlet_but_the_local_store() {
    let dc = Dc::new(Scenario::CmsUnreachable);
    for line in [
        "Get-CsPersistentChatState",
        "Set-CsPersistentChatState -Identity service:pchat.contoso.local -PoolState FailedOver",
        "Set-CsPersistentChatActiveServer -ActiveServers $null",
        "Get-CsService -PersistentChatServer",
        "Get-CsManagementStoreReplicationStatus",
        "Install-CsMirrorDatabase -DatabaseType PersistentChat -FileShare \\\\fs\\m -SqlServerFqdn pcsqldr01.contoso.local",
    ] {
        assert!(fails(&dc, line).contains("Central Management Store"), "{line}");
    }
    assert!(ok(&dc, "Get-CsPersistentChatState -LocalStore").contains("Normal"));
    assert!(runledger_sim::status(dc.path()).unwrap().history.is_empty());
}

#[test]
fn lines_on_stdin_run_one_by_one_and_a_failure_sets_the_exit_code() {
    let dc = Dc::new(Scenario::Normal);
    let input = "Get-CsPersistentChatState\n\nSet-CsPersistentChatState -PoolState FailedOver\nSet-CsPersistentChatState -Nope\n";
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code =
        runledger_sim::shell::run_lines(dc.path(), input.as_bytes(), &mut out, &mut err).unwrap();
    assert_eq!(code, 1);
    assert!(String::from_utf8(err).unwrap().contains("'Nope'"));
    assert_eq!(
        runledger_sim::status(dc.path()).unwrap().pool.pool_state,
        "FailedOver"
    );
}

/// What the engine now writes: every value a single-quoted literal, `''` a quote inside it,
/// also among a list modifier's items.
#[test]
fn single_quoted_literals_with_doubled_quotes_are_read_as_powershell_does() {
    let dc = Dc::new(Scenario::Normal);
    ok(
        &dc,
        "Get-CsPersistentChatState -Identity 'service:pchat.contoso.local'",
    );
    ok(&dc, "Set-CsPersistentChatState -Identity 'PersistentChatServer:pchat.contoso.local' -PoolState 'FailedOver'");
    assert!(ok(&dc, "Get-CsPersistentChatState").contains("FailedOver"));
    // `''` is one quote, inside the value: the identity named is the pool's with a quote.
    assert!(fails(
        &dc,
        "Get-CsPersistentChatState -Identity 'service:pchat''s.contoso.local'"
    )
    .contains("\"service:pchat's.contoso.local\" because it does not exist"));
    ok(&dc, "Set-CsPersistentChatActiveServer -Identity 'PersistentChatServer:pchat.contoso.local' -ActiveServers @{Replace='pcdr01.contoso.local','pcdr02.contoso.local'}");
    assert_eq!(
        runledger_sim::status(dc.path())
            .unwrap()
            .pool
            .active_servers,
        ["pcdr01.contoso.local", "pcdr02.contoso.local"]
    );
    // A comma or a closing brace inside a quoted item belongs to the item.
    let bad = fails(&dc, "Set-CsPersistentChatActiveServer -ActiveServers @{Replace='pcdr01.contoso.local','o''brien,}x.contoso.local'}");
    assert!(
        bad.contains("\"o'brien,}x.contoso.local\" is not a Persistent Chat server"),
        "{bad}"
    );
    ok(
        &dc,
        "Set-CsPersistentChatActiveServer -ActiveServers 'pcdr01.contoso.local'",
    );
    assert_eq!(
        runledger_sim::status(dc.path())
            .unwrap()
            .pool
            .active_servers,
        ["pcdr01.contoso.local"]
    );
    assert!(
        fails(&dc, "Get-CsPersistentChatState -Identity 'unterminated")
            .contains("missing the terminator")
    );
}
