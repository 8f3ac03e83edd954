/* Prints the linked version and fails on a header/library mismatch. */
#include <corvid.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    corvid_model *m = NULL;
    printf("corvid %s\n", corvid_version());
    if (strcmp(corvid_version(), CORVID_VERSION_STRING) != 0) return 1;
    /* Exercise the error path across the boundary: a status, not a crash. */
    return corvid_model_open("/nonexistent.gguf", NULL, &m) == CORVID_ERR_IO && m == NULL ? 0 : 1;
}
