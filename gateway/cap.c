/* placeholder: being written */
typedef int placeholder_cap_t;
