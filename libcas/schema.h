#ifndef CAS_SCHEMA_H
#define CAS_SCHEMA_H
/* The SQL migrations from schema/NNN_*.sql, compiled into libcas by
 * contrib/embed-schema.sh.  Applied in order by cas_db_open(). */
struct cas_schema_migration {
	unsigned version;	/* NNN from the file name */
	const char *name;	/* file name without .sql */
	const char *sql;
};
extern const struct cas_schema_migration cas_schema_migrations[];
extern const unsigned cas_schema_migration_count;
#endif
