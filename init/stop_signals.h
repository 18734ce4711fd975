/* The stop signals as the kernel's signal mask (bit n-1 for signal n): HUP, INT, QUIT, TERM.
 * Checked against STOP_SIGNALS in init/src/stop_signals.rs, the one definition (unit test
 * stop_signals_h_matches): change the set there. */
#define STOP_SIGNAL_MASK 0x4007
