/* hyenac driver (placeholder while the frontend lands). */
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		puts("usage: hyenac COMMAND ...");
		return 0;
	}
	fprintf(stderr, "hyenac: no command given; see hyenac --help\n");
	return 2;
}
