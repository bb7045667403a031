/* placeholder: being written */
typedef int placeholder_intake_t;
