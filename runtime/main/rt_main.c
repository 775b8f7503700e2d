/* Placeholder: the generated binaries' command line lands here. */
int hyrt_main_placeholder;
