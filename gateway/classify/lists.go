package classify

import "strings"

// externalFuncs reach outside the database: the server's file system, programs or other servers.
// (dblink* is matched by prefix.)
var externalFuncs = map[string]bool{
	"pg_read_file": true, "pg_read_binary_file": true, "pg_stat_file": true,
	"pg_ls_dir": true, "pg_ls_logdir": true, "pg_ls_waldir": true, "pg_ls_tmpdir": true,
	"pg_ls_archive_statusdir": true, "pg_ls_logicalsnapdir": true, "pg_ls_logicalmapdir": true,
	"pg_ls_replslotdir": true, "pg_ls_summariesdir": true,
	"lo_import": true, "lo_export": true,
	// adminpack
	"pg_file_write": true, "pg_file_rename": true, "pg_file_unlink": true, "pg_file_sync": true,
	"pg_file_read": true, "pg_logdir_ls": true,
}

// externalRelations are system views that read the server's configuration files.
var externalRelations = map[string]bool{
	"pg_hba_file_rules": true, "pg_ident_file_mappings": true, "pg_file_settings": true,
}

// adminFuncs act on the server or other sessions rather than on data.
var adminFuncs = map[string]bool{
	"pg_terminate_backend": true, "pg_cancel_backend": true, "pg_reload_conf": true,
	"pg_rotate_logfile": true, "pg_promote": true, "pg_switch_wal": true, "pg_create_restore_point": true,
	"pg_backup_start": true, "pg_backup_stop": true, "pg_start_backup": true, "pg_stop_backup": true,
	"pg_create_physical_replication_slot": true, "pg_create_logical_replication_slot": true,
	"pg_drop_replication_slot": true, "pg_copy_physical_replication_slot": true,
	"pg_copy_logical_replication_slot": true, "pg_logical_emit_message": true,
	"pg_wal_replay_pause": true, "pg_wal_replay_resume": true, "pg_log_backend_memory_contexts": true,
	"pg_stat_reset": true, "pg_stat_reset_shared": true, "pg_stat_reset_single_table_counters": true,
}

// dynamicFuncs run SQL given to them as a string, or dump whole tables, schemas or databases by name:
// what they touch is invisible to the parse tree.
var dynamicFuncs = map[string]bool{
	"query_to_xml": true, "query_to_xmlschema": true, "query_to_xml_and_xmlschema": true,
	"table_to_xml": true, "table_to_xmlschema": true, "table_to_xml_and_xmlschema": true,
	"schema_to_xml": true, "schema_to_xmlschema": true, "schema_to_xml_and_xmlschema": true,
	"database_to_xml": true, "database_to_xmlschema": true, "database_to_xml_and_xmlschema": true,
	"cursor_to_xml": true, "cursor_to_xmlschema": true,
	// ts_stat(sqlquery text, …) runs the query it is given (ts_rewrite's query form: parse.go).
	"ts_stat": true,
}

// lexingSettings change how the server splits bytes into tokens and strings: a client encoding whose
// multibyte characters contain the bytes of '\' or '\” (SJIS, GBK, …), or backslash escapes in ordinary
// strings. The gateway must share them with the server (docs/policy.md, "lexing_setting").
var lexingSettings = map[string]bool{
	"client_encoding": true, "standard_conforming_strings": true, "backslash_quote": true,
}

// cursorOptHold is CURSOR_OPT_HOLD of PostgreSQL's parsenodes.h: DECLARE … WITH HOLD.
const cursorOptHold = 0x0020

// roleSettings change the effective role of the session.
var roleSettings = map[string]bool{"role": true, "session_authorization": true}

// adminSettings are superuser-only (PGC_SUSET) settings that affect auditing, safety or the whole server,
// plus settings that change how the server reads SQL (a classifier assuming standard strings would
// misread a query sent after standard_conforming_strings=off).
var adminSettings = map[string]bool{
	"log_statement": true, "log_min_duration_statement": true, "log_min_messages": true,
	"log_min_error_statement": true, "log_duration": true, "log_error_verbosity": true,
	"log_lock_waits": true, "log_parser_stats": true, "log_planner_stats": true, "log_executor_stats": true,
	"log_statement_stats": true, "log_temp_files": true, "log_replication_commands": true,
	"log_statement_sample_rate": true, "log_transaction_sample_rate": true, "log_min_duration_sample": true,
	"log_parameter_max_length": true, "log_parameter_max_length_on_error": true,
	"session_replication_role": true, "session_preload_libraries": true, "local_preload_libraries": true,
	"lc_messages": true, "ignore_system_indexes": true, "zero_damaged_pages": true,
	"ignore_checksum_failure": true, "ignore_invalid_pages": true, "allow_system_table_mods": true,
	"allow_in_place_tablespaces": true, "track_activities": true, "track_counts": true,
	"track_io_timing": true, "track_wal_io_timing": true, "track_functions": true, "temp_file_limit": true,
	"max_stack_depth": true, "deadlock_timeout": true, "lo_compat_privileges": true,
	"update_process_title": true, "wal_compression": true, "wal_consistency_checking": true,
	"dynamic_library_path": true, "commit_delay": true, "compute_query_id": true, "jit_dump_bitcode": true,
	"standard_conforming_strings": true, "backslash_quote": true, "row_security": true,
}

// isAdminSetting reports whether a setting name is an admin setting; extension settings of audit and
// logging modules (pgaudit.*, auto_explain.*) and debug_* settings are included.
func isAdminSetting(name string) bool {
	name = strings.ToLower(name)
	if adminSettings[name] {
		return true
	}
	return strings.HasPrefix(name, "pgaudit.") || strings.HasPrefix(name, "auto_explain.") ||
		strings.HasPrefix(name, "debug_") || strings.HasPrefix(name, "trace_")
}

// plannerTags survive a plain EXPLAIN (without ANALYZE), which plans but does not run the statement.
var plannerTags = map[string]bool{
	TagExternalAccess: true, TagCopyProgram: true, TagAdminSetting: true, TagAdminFunction: true,
	TagSetRole: true, TagDynamicSQL: true, TagLexing: true,
}
