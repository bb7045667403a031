/* placeholder: being written */
typedef int placeholder_certs_t;
