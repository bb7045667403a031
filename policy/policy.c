/* placeholder: being written */
typedef int placeholder_policy_t;
