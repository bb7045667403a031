/* placeholder: being written */
typedef int placeholder_authz_t;
