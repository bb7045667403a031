/* placeholder: being written */
typedef int placeholder_store_sqlite_t;
