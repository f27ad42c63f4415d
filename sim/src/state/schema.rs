//! The SQLite schema of the simulated data center.
//!
//! Tables hold what SQL Server keeps in `master` and `msdb` of each simulated instance (every
//! row carries its `instance`), the Lync topology and pool state, and the ordered history of
//! state-changing commands. Column types are written as SQL Server's own type names: the SQL
//! layer turns a result column's declared type into its TDS type, and SQLite's affinity rules
//! still store them sensibly (NVARCHAR → text, INT → integer, NUMERIC(25,0) → integer; every
//! LSN the simulator makes fits in 64 bits). Text compares case-insensitively, as under SQL
//! Server's default collation. Views select stored columns directly wherever a client reads
//! a typed value (an LSN, a GUID), because SQLite only reports the declared type of a plain
//! column: the code that changes a database's state keeps such columns NULL when SQL Server
//! shows NULL (e.g. `redo_start_lsn` once the database is ONLINE).

/// Tables and indexes, created once by `init`.
pub const TABLES: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE instances (
  name TEXT PRIMARY KEY, server_name TEXT NOT NULL, fqdn TEXT NOT NULL, host TEXT NOT NULL,
  port INTEGER NOT NULL, login TEXT NOT NULL, password TEXT NOT NULL, role TEXT NOT NULL,
  reachable INTEGER NOT NULL DEFAULT 1);
CREATE TABLE endpoints (
  instance TEXT NOT NULL, name NVARCHAR COLLATE NOCASE NOT NULL, endpoint_id INT NOT NULL,
  port INT NOT NULL, state_desc NVARCHAR NOT NULL, role_desc NVARCHAR NOT NULL,
  PRIMARY KEY (instance, name));
CREATE TABLE databases (
  instance TEXT NOT NULL, database_id INT NOT NULL, name NVARCHAR COLLATE NOCASE NOT NULL,
  state_desc NVARCHAR NOT NULL, is_in_standby BIT NOT NULL DEFAULT 0,
  user_access_desc NVARCHAR NOT NULL DEFAULT 'MULTI_USER',
  recovery_model_desc NVARCHAR NOT NULL DEFAULT 'FULL', create_date DATETIME NOT NULL,
  redo_start_lsn NUMERIC(25,0), redo_start_fork_guid UNIQUEIDENTIFIER COLLATE NOCASE,
  family_guid UNIQUEIDENTIFIER COLLATE NOCASE,
  mirroring_guid UNIQUEIDENTIFIER COLLATE NOCASE, mirroring_role_desc NVARCHAR,
  mirroring_state_desc NVARCHAR, mirroring_partner_name NVARCHAR,
  mirroring_partner_instance NVARCHAR, mirroring_witness_name NVARCHAR,
  mirroring_safety_level_desc NVARCHAR,
  standby_redo_lsn NUMERIC(25,0), standby_fork_guid UNIQUEIDENTIFIER COLLATE NOCASE,
  interrupted_restore TEXT, mirroring_synchronized_at_ms INTEGER,
  PRIMARY KEY (instance, database_id));
CREATE TABLE log_shipping_secondary (
  instance TEXT NOT NULL, secondary_id UNIQUEIDENTIFIER COLLATE NOCASE,
  primary_server NVARCHAR COLLATE NOCASE, primary_database NVARCHAR COLLATE NOCASE,
  backup_source_directory NVARCHAR, backup_destination_directory NVARCHAR,
  file_retention_period INT, copy_job_id UNIQUEIDENTIFIER COLLATE NOCASE,
  restore_job_id UNIQUEIDENTIFIER COLLATE NOCASE, monitor_server NVARCHAR,
  monitor_server_security_mode BIT, last_copied_file NVARCHAR, last_copied_date DATETIME);
CREATE TABLE log_shipping_secondary_databases (
  instance TEXT NOT NULL, secondary_database NVARCHAR COLLATE NOCASE,
  secondary_id UNIQUEIDENTIFIER COLLATE NOCASE, restore_delay INT, restore_all BIT,
  restore_mode BIT, disconnect_users BIT, block_size INT, buffer_count INT,
  max_transfer_size INT, last_restored_file NVARCHAR, last_restored_date DATETIME);
CREATE TABLE log_shipping_monitor_secondary (
  instance TEXT NOT NULL, secondary_server NVARCHAR COLLATE NOCASE,
  secondary_database NVARCHAR COLLATE NOCASE, secondary_id UNIQUEIDENTIFIER COLLATE NOCASE,
  primary_server NVARCHAR COLLATE NOCASE, primary_database NVARCHAR COLLATE NOCASE,
  restore_threshold INT, threshold_alert INT, threshold_alert_enabled BIT,
  last_copied_file NVARCHAR, last_copied_date DATETIME, last_copied_date_utc DATETIME,
  last_restored_file NVARCHAR, last_restored_date DATETIME, last_restored_date_utc DATETIME,
  last_restored_latency INT, history_retention_period INT);
CREATE TABLE sysjobs (
  instance TEXT NOT NULL, job_id UNIQUEIDENTIFIER COLLATE NOCASE, name NVARCHAR COLLATE NOCASE,
  enabled TINYINT, description NVARCHAR, category_id INT, date_created DATETIME,
  date_modified DATETIME);
CREATE TABLE log_shipping_primary_databases (
  instance TEXT NOT NULL, primary_id UNIQUEIDENTIFIER COLLATE NOCASE,
  primary_database NVARCHAR COLLATE NOCASE, backup_directory NVARCHAR, backup_share NVARCHAR,
  backup_retention_period INT, backup_job_id UNIQUEIDENTIFIER COLLATE NOCASE,
  monitor_server NVARCHAR, monitor_server_security_mode BIT, user_specified_monitor BIT,
  last_backup_file NVARCHAR, last_backup_date DATETIME, backup_compression TINYINT);
CREATE TABLE log_shipping_primary_secondaries (
  instance TEXT NOT NULL, primary_id UNIQUEIDENTIFIER COLLATE NOCASE,
  secondary_server NVARCHAR COLLATE NOCASE, secondary_database NVARCHAR COLLATE NOCASE);
CREATE TABLE sysschedules (
  instance TEXT NOT NULL, schedule_id INT, schedule_uid UNIQUEIDENTIFIER COLLATE NOCASE,
  name NVARCHAR COLLATE NOCASE, enabled INT, freq_type INT, freq_interval INT,
  freq_subday_type INT, freq_subday_interval INT, active_start_date INT, active_end_date INT,
  active_start_time INT, active_end_time INT);
CREATE TABLE sysjobschedules (
  instance TEXT NOT NULL, schedule_id INT, job_id UNIQUEIDENTIFIER COLLATE NOCASE);
CREATE TABLE syssessions (instance TEXT NOT NULL, session_id INT, agent_start_date DATETIME);
CREATE TABLE sysjobactivity (
  instance TEXT NOT NULL, session_id INT, job_id UNIQUEIDENTIFIER COLLATE NOCASE,
  run_requested_date DATETIME, start_execution_date DATETIME, stop_execution_date DATETIME,
  last_executed_step_id INT);
CREATE TABLE backupset (
  instance TEXT NOT NULL, backup_set_id INT, media_set_id INT,
  database_name NVARCHAR COLLATE NOCASE, type NVARCHAR, first_lsn NUMERIC(25,0),
  last_lsn NUMERIC(25,0), checkpoint_lsn NUMERIC(25,0), database_backup_lsn NUMERIC(25,0),
  backup_start_date DATETIME, backup_finish_date DATETIME, time_zone SMALLINT,
  server_name NVARCHAR, machine_name NVARCHAR, family_guid UNIQUEIDENTIFIER,
  first_recovery_fork_guid UNIQUEIDENTIFIER, last_recovery_fork_guid UNIQUEIDENTIFIER,
  backup_size BIGINT);
CREATE TABLE backupmediafamily (
  instance TEXT NOT NULL, media_set_id INT, family_sequence_number TINYINT,
  logical_device_name NVARCHAR, physical_device_name NVARCHAR, device_type TINYINT,
  mirror TINYINT);
CREATE TABLE restorehistory (
  instance TEXT NOT NULL, restore_history_id INT, restore_date DATETIME,
  destination_database_name NVARCHAR COLLATE NOCASE, user_name NVARCHAR, backup_set_id INT,
  restore_type NVARCHAR, replace BIT, recovery BIT, restart BIT, stop_at DATETIME,
  device_count TINYINT, stop_at_mark_name NVARCHAR, stop_before BIT);
CREATE TABLE sessions (
  instance TEXT NOT NULL, session_id SMALLINT NOT NULL, kind TEXT NOT NULL,
  login_name NVARCHAR COLLATE NOCASE, host_name NVARCHAR, program_name NVARCHAR,
  database_name NVARCHAR COLLATE NOCASE, status NVARCHAR, is_user_process BIT,
  login_time DATETIME, job_id UNIQUEIDENTIFIER COLLATE NOCASE,
  PRIMARY KEY (instance, session_id));
CREATE TABLE requests (
  instance TEXT NOT NULL, session_id SMALLINT NOT NULL, command NVARCHAR COLLATE NOCASE,
  database_name NVARCHAR COLLATE NOCASE, status NVARCHAR, percent_complete INT,
  start_time DATETIME, PRIMARY KEY (instance, session_id));
CREATE TABLE server_principals (
  instance TEXT NOT NULL, principal_id INT, name NVARCHAR COLLATE NOCASE, sid VARBINARY,
  type NVARCHAR, type_desc NVARCHAR, is_disabled BIT, default_database_name NVARCHAR);
CREATE TABLE database_principals (
  instance TEXT NOT NULL, database_name NVARCHAR COLLATE NOCASE, principal_id INT,
  name NVARCHAR COLLATE NOCASE, sid VARBINARY, type NVARCHAR, type_desc NVARCHAR,
  default_schema_name NVARCHAR);
CREATE TABLE objects (
  instance TEXT NOT NULL, database_name NVARCHAR COLLATE NOCASE, object_id INT,
  name NVARCHAR COLLATE NOCASE, schema_id INT, type NVARCHAR, type_desc NVARCHAR,
  create_date DATETIME);
CREATE TABLE backup_files (
  name TEXT PRIMARY KEY, writer TEXT NOT NULL, first_lsn INTEGER NOT NULL,
  last_lsn INTEGER NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
  in_share INTEGER NOT NULL, in_dest INTEGER NOT NULL, restored INTEGER NOT NULL,
  note TEXT);
CREATE TABLE pool (
  identity TEXT NOT NULL, fqdn TEXT NOT NULL, pool_state TEXT NOT NULL,
  active_servers TEXT NOT NULL, primary_sql_fqdn TEXT NOT NULL,
  primary_mirror_sql_fqdn TEXT NOT NULL, backup_sql_fqdn TEXT NOT NULL,
  backup_mirror_sql_fqdn TEXT NOT NULL, cms_fqdn TEXT NOT NULL,
  cms_reachable INTEGER NOT NULL);
CREATE TABLE pool_servers (
  fqdn TEXT PRIMARY KEY, site TEXT NOT NULL, service_running INTEGER NOT NULL);
CREATE TABLE history (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, system TEXT NOT NULL,
  session_id INTEGER, command TEXT NOT NULL, effect TEXT NOT NULL);
"#;

/// Per-connection views: the catalog as one instance and one session see it. `{I}` is the
/// instance name, `{S}` the session id; both come from our own code, never from a client.
pub const SESSION_VIEWS: &str = r#"
CREATE TEMP VIEW sys_databases AS SELECT name, database_id,
  CASE lower(state_desc) WHEN 'online' THEN 0 WHEN 'restoring' THEN 1 WHEN 'recovering' THEN 2
    WHEN 'recovery_pending' THEN 3 WHEN 'suspect' THEN 4 ELSE 6 END AS state,
  state_desc, is_in_standby,
  CASE user_access_desc WHEN 'MULTI_USER' THEN 0 WHEN 'SINGLE_USER' THEN 1 ELSE 2 END AS user_access,
  user_access_desc,
  CASE recovery_model_desc WHEN 'FULL' THEN 1 WHEN 'BULK_LOGGED' THEN 2 ELSE 3 END AS recovery_model,
  recovery_model_desc, create_date, 110 AS compatibility_level, is_read_only_flag AS is_read_only
  FROM (SELECT *, 0 AS is_read_only_flag FROM main.databases) WHERE instance = '{I}';
CREATE TEMP VIEW sys_master_files AS
  SELECT database_id, 1 AS file_id, 'ROWS' AS type_desc, name AS name,
    'D:\Data\' || name || '.mdf' AS physical_name, state_desc,
    redo_start_lsn, redo_start_fork_guid
  FROM main.databases WHERE instance = '{I}'
  UNION ALL
  SELECT database_id, 2, 'LOG', name || '_log', 'L:\Log\' || name || '_log.ldf', state_desc,
    redo_start_lsn, redo_start_fork_guid
  FROM main.databases WHERE instance = '{I}';
CREATE TEMP VIEW sys_database_mirroring AS SELECT database_id,
  mirroring_guid,
  CASE mirroring_state_desc WHEN 'SUSPENDED' THEN 0 WHEN 'DISCONNECTED' THEN 1
    WHEN 'SYNCHRONIZING' THEN 2 WHEN 'PENDING_FAILOVER' THEN 3 WHEN 'SYNCHRONIZED' THEN 4 END
    AS mirroring_state,
  mirroring_state_desc,
  CASE mirroring_role_desc WHEN 'PRINCIPAL' THEN 1 WHEN 'MIRROR' THEN 2 END AS mirroring_role,
  mirroring_role_desc, mirroring_partner_name, mirroring_partner_instance,
  mirroring_witness_name,
  CASE WHEN mirroring_role_desc IS NOT NULL THEN 'UNKNOWN' END AS mirroring_witness_state_desc,
  mirroring_safety_level_desc
  FROM main.databases WHERE instance = '{I}';
CREATE TEMP VIEW sys_dm_exec_sessions AS SELECT session_id, login_time, host_name,
  program_name, login_name, status, is_user_process,
  (SELECT database_id FROM main.databases d WHERE d.instance = s.instance
     AND d.name = s.database_name) AS database_id
  FROM main.sessions s WHERE instance = '{I}';
CREATE TEMP VIEW sys_sysprocesses AS SELECT session_id AS spid,
  (SELECT database_id FROM main.databases d WHERE d.instance = s.instance
     AND d.name = s.database_name) AS dbid,
  login_name AS loginame, host_name AS hostname, program_name, status,
  COALESCE((SELECT command FROM main.requests r WHERE r.instance = s.instance
     AND r.session_id = s.session_id), 'AWAITING COMMAND') AS cmd
  FROM main.sessions s WHERE instance = '{I}';
CREATE TEMP VIEW sys_dm_exec_requests AS SELECT session_id, start_time, status, command,
  (SELECT database_id FROM main.databases d WHERE d.instance = r.instance
     AND d.name = r.database_name) AS database_id,
  0 AS blocking_session_id, percent_complete
  FROM main.requests r WHERE instance = '{I}';
CREATE TEMP VIEW sys_dm_tran_locks AS
  SELECT 'DATABASE' AS resource_type, d.database_id AS resource_database_id,
    s.session_id AS request_session_id, 'S' AS request_mode, 'GRANT' AS request_status,
    'SHARED_TRANSACTION_WORKSPACE' AS request_owner_type
  FROM main.sessions s JOIN main.databases d ON d.instance = s.instance AND d.name = s.database_name
  WHERE s.instance = '{I}'
  UNION ALL
  SELECT 'DATABASE', d.database_id, r.session_id, 'X', 'GRANT', 'EXCLUSIVE_TRANSACTION_WORKSPACE'
  FROM main.requests r JOIN main.databases d ON d.instance = r.instance AND d.name = r.database_name
  WHERE r.instance = '{I}' AND r.command LIKE 'RESTORE%';
CREATE TEMP VIEW sys_database_mirroring_endpoints AS SELECT name, endpoint_id,
  'DATABASE_MIRRORING' AS type_desc, state_desc, role_desc, 1 AS is_encryption_enabled
  FROM main.endpoints WHERE instance = '{I}';
CREATE TEMP VIEW sys_tcp_endpoints AS SELECT name, endpoint_id, 'DATABASE_MIRRORING' AS type_desc,
  state_desc, port FROM main.endpoints WHERE instance = '{I}';
CREATE TEMP VIEW sys_server_principals AS SELECT name, principal_id, sid, type, type_desc,
  is_disabled, default_database_name FROM main.server_principals WHERE instance = '{I}';
CREATE TEMP VIEW dbs_database_principals AS SELECT name, principal_id, type, type_desc,
  default_schema_name, sid, database_name FROM main.database_principals WHERE instance = '{I}';
CREATE TEMP VIEW dbs_objects AS SELECT name, object_id, schema_id, type, type_desc,
  create_date, database_name FROM main.objects WHERE instance = '{I}';
CREATE TEMP VIEW msdb_log_shipping_secondary AS SELECT secondary_id, primary_server,
  primary_database, backup_source_directory, backup_destination_directory,
  file_retention_period, copy_job_id, restore_job_id, monitor_server,
  monitor_server_security_mode, last_copied_file, last_copied_date
  FROM main.log_shipping_secondary WHERE instance = '{I}';
CREATE TEMP VIEW msdb_log_shipping_secondary_databases AS SELECT secondary_database,
  secondary_id, restore_delay, restore_all, restore_mode, disconnect_users, block_size,
  buffer_count, max_transfer_size, last_restored_file, last_restored_date
  FROM main.log_shipping_secondary_databases WHERE instance = '{I}';
CREATE TEMP VIEW msdb_log_shipping_monitor_secondary AS SELECT secondary_server,
  secondary_database, secondary_id, primary_server, primary_database, restore_threshold,
  threshold_alert, threshold_alert_enabled, last_copied_file, last_copied_date,
  last_copied_date_utc, last_restored_file, last_restored_date, last_restored_date_utc,
  last_restored_latency, history_retention_period
  FROM main.log_shipping_monitor_secondary WHERE instance = '{I}';
CREATE TEMP VIEW msdb_log_shipping_primary_databases AS SELECT primary_id, primary_database,
  backup_directory, backup_share, backup_retention_period, backup_job_id, monitor_server,
  monitor_server_security_mode, user_specified_monitor, last_backup_file, last_backup_date,
  backup_compression
  FROM main.log_shipping_primary_databases WHERE instance = '{I}';
CREATE TEMP VIEW msdb_log_shipping_primary_secondaries AS SELECT primary_id, secondary_server,
  secondary_database FROM main.log_shipping_primary_secondaries WHERE instance = '{I}';
CREATE TEMP VIEW msdb_sysschedules AS SELECT schedule_id, schedule_uid, name, enabled,
  freq_type, freq_interval, freq_subday_type, freq_subday_interval, active_start_date,
  active_end_date, active_start_time, active_end_time
  FROM main.sysschedules WHERE instance = '{I}';
CREATE TEMP VIEW msdb_sysjobschedules AS SELECT schedule_id, job_id
  FROM main.sysjobschedules WHERE instance = '{I}';
CREATE TEMP VIEW msdb_sysjobs AS SELECT job_id, name, enabled, description, category_id,
  date_created, date_modified FROM main.sysjobs WHERE instance = '{I}';
CREATE TEMP VIEW msdb_syssessions AS SELECT session_id, agent_start_date
  FROM main.syssessions WHERE instance = '{I}';
CREATE TEMP VIEW msdb_sysjobactivity AS SELECT session_id, job_id, run_requested_date,
  start_execution_date, stop_execution_date, last_executed_step_id
  FROM main.sysjobactivity WHERE instance = '{I}';
CREATE TEMP VIEW msdb_backupset AS SELECT backup_set_id, media_set_id, database_name, type,
  first_lsn, last_lsn, checkpoint_lsn, database_backup_lsn, backup_start_date,
  backup_finish_date, time_zone, server_name, machine_name, family_guid,
  first_recovery_fork_guid, last_recovery_fork_guid, backup_size
  FROM main.backupset WHERE instance = '{I}';
CREATE TEMP VIEW msdb_backupmediafamily AS SELECT media_set_id, family_sequence_number,
  logical_device_name, physical_device_name, device_type, mirror
  FROM main.backupmediafamily WHERE instance = '{I}';
CREATE TEMP VIEW msdb_restorehistory AS SELECT restore_history_id, restore_date,
  destination_database_name, user_name, backup_set_id, restore_type, replace, recovery,
  restart, stop_at, device_count, stop_at_mark_name, stop_before
  FROM main.restorehistory WHERE instance = '{I}';
"#;
