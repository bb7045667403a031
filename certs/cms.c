/* placeholder: being written */
typedef int placeholder_cms_t;
