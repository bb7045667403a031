#include "tocsin.h"
int main(void) { return 0; }
