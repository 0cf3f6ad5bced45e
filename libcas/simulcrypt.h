#ifndef CAS_SIMULCRYPT_H
#define CAS_SIMULCRYPT_H
/*
 * DVB SimulCrypt constants (ETSI TS 103 197) for the two interfaces FreeCAS
 * speaks: ECMG<=>SCS (ecmgd) and EMMG/PDG<=>MUX (emmgd), with name tables
 * for log lines.  Facts: reference/simulcrypt.md §1-§4.
 *
 * Parameter types and error_status codes are scoped to an interface: the
 * same number means different things on the two (0x0001 is Super_CAS_id on
 * ECMG<=>SCS but client_id on EMMG<=>MUX; error 0x000E is "unknown
 * parameter_type value" on one and "unknown client_id value" on the other),
 * so every name lookup takes the interface.
 */
#include <stdint.h>

enum cas_sc_iface {
	CAS_SC_NONE = 0,	/* a message type of neither interface */
	CAS_SC_ECMG = 1,	/* ECMG<=>SCS */
	CAS_SC_EMMG = 2,	/* EMMG/PDG<=>MUX */
};

/* protocol_version values (simulcrypt.md §1.3).  v1 = TS 101 197; v2 adds
 * ECM_id, data_id, UDP and variable CW sizes; v3 = same message set as v2 on
 * these interfaces. */
#define CAS_SC_VERSION_1 0x01
#define CAS_SC_VERSION_2 0x02
#define CAS_SC_VERSION_3 0x03

/* Message header: protocol_version u8, message_type u16, message_length u16
 * (bytes after the header); each parameter: type u16, length u16, value. */
#define CAS_SC_HEADER_LEN 5
#define CAS_SC_PARAM_HEADER_LEN 4
#define CAS_SC_MAX_BODY 65535u
#define CAS_SC_MAX_MSG (CAS_SC_HEADER_LEN + CAS_SC_MAX_BODY)

/* ---- ECMG<=>SCS message types (simulcrypt.md §2.1) ---- */
#define CAS_ECMG_MSG_CHANNEL_SETUP          0x0001
#define CAS_ECMG_MSG_CHANNEL_TEST           0x0002
#define CAS_ECMG_MSG_CHANNEL_STATUS         0x0003
#define CAS_ECMG_MSG_CHANNEL_CLOSE          0x0004
#define CAS_ECMG_MSG_CHANNEL_ERROR          0x0005
#define CAS_ECMG_MSG_STREAM_SETUP           0x0101
#define CAS_ECMG_MSG_STREAM_TEST            0x0102
#define CAS_ECMG_MSG_STREAM_STATUS          0x0103
#define CAS_ECMG_MSG_STREAM_CLOSE_REQUEST   0x0104
#define CAS_ECMG_MSG_STREAM_CLOSE_RESPONSE  0x0105
#define CAS_ECMG_MSG_STREAM_ERROR           0x0106
#define CAS_ECMG_MSG_CW_PROVISION           0x0201
#define CAS_ECMG_MSG_ECM_RESPONSE           0x0202

/* ---- ECMG<=>SCS parameter types (simulcrypt.md §2.2) ---- */
#define CAS_ECMG_PARAM_SUPER_CAS_ID                  0x0001	/* u32 */
#define CAS_ECMG_PARAM_SECTION_TSPKT_FLAG            0x0002	/* u8 */
#define CAS_ECMG_PARAM_DELAY_START                   0x0003	/* i16 ms */
#define CAS_ECMG_PARAM_DELAY_STOP                    0x0004	/* i16 ms */
#define CAS_ECMG_PARAM_TRANSITION_DELAY_START        0x0005	/* i16 ms */
#define CAS_ECMG_PARAM_TRANSITION_DELAY_STOP         0x0006	/* i16 ms */
#define CAS_ECMG_PARAM_ECM_REP_PERIOD                0x0007	/* u16 ms */
#define CAS_ECMG_PARAM_MAX_STREAMS                   0x0008	/* u16 */
#define CAS_ECMG_PARAM_MIN_CP_DURATION               0x0009	/* u16, 100 ms */
#define CAS_ECMG_PARAM_LEAD_CW                       0x000A	/* u8 */
#define CAS_ECMG_PARAM_CW_PER_MSG                    0x000B	/* u8 */
#define CAS_ECMG_PARAM_MAX_COMP_TIME                 0x000C	/* u16 ms */
#define CAS_ECMG_PARAM_ACCESS_CRITERIA               0x000D	/* bytes */
#define CAS_ECMG_PARAM_ECM_CHANNEL_ID                0x000E	/* u16 */
#define CAS_ECMG_PARAM_ECM_STREAM_ID                 0x000F	/* u16 */
#define CAS_ECMG_PARAM_NOMINAL_CP_DURATION           0x0010	/* u16, 100 ms */
#define CAS_ECMG_PARAM_ACCESS_CRITERIA_TRANSFER_MODE 0x0011	/* u8 boolean */
#define CAS_ECMG_PARAM_CP_NUMBER                     0x0012	/* u16 */
#define CAS_ECMG_PARAM_CP_DURATION                   0x0013	/* u16, 100 ms */
#define CAS_ECMG_PARAM_CP_CW_COMBINATION             0x0014	/* u16 CP || CW */
#define CAS_ECMG_PARAM_ECM_DATAGRAM                  0x0015	/* bytes */
#define CAS_ECMG_PARAM_AC_DELAY_START                0x0016	/* i16 ms */
#define CAS_ECMG_PARAM_AC_DELAY_STOP                 0x0017	/* i16 ms */
#define CAS_ECMG_PARAM_CW_ENCRYPTION                 0x0018	/* bytes, v2+ */
#define CAS_ECMG_PARAM_ECM_ID                        0x0019	/* u16, v2+ */
#define CAS_ECMG_PARAM_ERROR_STATUS                  0x7000	/* u16 */
#define CAS_ECMG_PARAM_ERROR_INFORMATION             0x7001	/* we send 2 bytes */

/* ---- EMMG/PDG<=>MUX message types (simulcrypt.md §3.1) ---- */
#define CAS_EMMG_MSG_CHANNEL_SETUP          0x0011
#define CAS_EMMG_MSG_CHANNEL_TEST           0x0012
#define CAS_EMMG_MSG_CHANNEL_STATUS         0x0013
#define CAS_EMMG_MSG_CHANNEL_CLOSE          0x0014
#define CAS_EMMG_MSG_CHANNEL_ERROR          0x0015
#define CAS_EMMG_MSG_STREAM_SETUP           0x0111
#define CAS_EMMG_MSG_STREAM_TEST            0x0112
#define CAS_EMMG_MSG_STREAM_STATUS          0x0113
#define CAS_EMMG_MSG_STREAM_CLOSE_REQUEST   0x0114
#define CAS_EMMG_MSG_STREAM_CLOSE_RESPONSE  0x0115
#define CAS_EMMG_MSG_STREAM_ERROR           0x0116
#define CAS_EMMG_MSG_STREAM_BW_REQUEST      0x0117
#define CAS_EMMG_MSG_STREAM_BW_ALLOCATION   0x0118
#define CAS_EMMG_MSG_DATA_PROVISION         0x0211

/* ---- EMMG/PDG<=>MUX parameter types (simulcrypt.md §3.2) ---- */
#define CAS_EMMG_PARAM_CLIENT_ID            0x0001	/* u32 */
#define CAS_EMMG_PARAM_SECTION_TSPKT_FLAG   0x0002	/* u8 */
#define CAS_EMMG_PARAM_DATA_CHANNEL_ID      0x0003	/* u16 */
#define CAS_EMMG_PARAM_DATA_STREAM_ID       0x0004	/* u16 */
#define CAS_EMMG_PARAM_DATAGRAM             0x0005	/* bytes */
#define CAS_EMMG_PARAM_BANDWIDTH            0x0006	/* u16 kbit/s */
#define CAS_EMMG_PARAM_DATA_TYPE            0x0007	/* u8 */
#define CAS_EMMG_PARAM_DATA_ID              0x0008	/* u16, v2+ */
#define CAS_EMMG_PARAM_ERROR_STATUS         0x7000	/* u16 */
#define CAS_EMMG_PARAM_ERROR_INFORMATION    0x7001	/* we send 2 bytes */

/* data_type values (simulcrypt.md §3.2) */
#define CAS_EMMG_DATA_TYPE_EMM              0x00
#define CAS_EMMG_DATA_TYPE_PRIVATE          0x01
#define CAS_EMMG_DATA_TYPE_ECM              0x02

/* ---- error_status codes (simulcrypt.md §4) ----
 * 0x0001-0x0004 and 0x7000/0x7001 mean the same on both interfaces; the
 * rest is NOT aligned between them. */
#define CAS_SC_ERR_INVALID_MESSAGE          0x0001
#define CAS_SC_ERR_UNSUPPORTED_VERSION      0x0002
#define CAS_SC_ERR_UNKNOWN_MESSAGE_TYPE     0x0003
#define CAS_SC_ERR_MESSAGE_TOO_LONG         0x0004
#define CAS_SC_ERR_UNKNOWN_ERROR            0x7000
#define CAS_SC_ERR_UNRECOVERABLE            0x7001

#define CAS_ECMG_ERR_INVALID_MESSAGE              0x0001
#define CAS_ECMG_ERR_UNSUPPORTED_VERSION          0x0002
#define CAS_ECMG_ERR_UNKNOWN_MESSAGE_TYPE         0x0003
#define CAS_ECMG_ERR_MESSAGE_TOO_LONG             0x0004
#define CAS_ECMG_ERR_UNKNOWN_SUPER_CAS_ID         0x0005
#define CAS_ECMG_ERR_UNKNOWN_ECM_CHANNEL_ID       0x0006
#define CAS_ECMG_ERR_UNKNOWN_ECM_STREAM_ID        0x0007
#define CAS_ECMG_ERR_TOO_MANY_CHANNELS            0x0008
#define CAS_ECMG_ERR_TOO_MANY_STREAMS_CHANNEL     0x0009
#define CAS_ECMG_ERR_TOO_MANY_STREAMS_ECMG        0x000A
#define CAS_ECMG_ERR_NOT_ENOUGH_CW                0x000B
#define CAS_ECMG_ERR_OUT_OF_STORAGE               0x000C
#define CAS_ECMG_ERR_OUT_OF_COMPUTE               0x000D
#define CAS_ECMG_ERR_UNKNOWN_PARAM_TYPE           0x000E
#define CAS_ECMG_ERR_INCONSISTENT_PARAM_LENGTH    0x000F
#define CAS_ECMG_ERR_MISSING_PARAM                0x0010
#define CAS_ECMG_ERR_INVALID_PARAM_VALUE          0x0011
#define CAS_ECMG_ERR_UNKNOWN_ECM_ID               0x0012
#define CAS_ECMG_ERR_ECM_CHANNEL_ID_IN_USE        0x0013
#define CAS_ECMG_ERR_ECM_STREAM_ID_IN_USE         0x0014
#define CAS_ECMG_ERR_ECM_ID_IN_USE                0x0015
#define CAS_ECMG_ERR_UNKNOWN_ERROR                0x7000
#define CAS_ECMG_ERR_UNRECOVERABLE                0x7001

#define CAS_EMMG_ERR_INVALID_MESSAGE              0x0001
#define CAS_EMMG_ERR_UNSUPPORTED_VERSION          0x0002
#define CAS_EMMG_ERR_UNKNOWN_MESSAGE_TYPE         0x0003
#define CAS_EMMG_ERR_MESSAGE_TOO_LONG             0x0004
#define CAS_EMMG_ERR_UNKNOWN_DATA_STREAM_ID       0x0005
#define CAS_EMMG_ERR_UNKNOWN_DATA_CHANNEL_ID      0x0006
#define CAS_EMMG_ERR_TOO_MANY_CHANNELS            0x0007
#define CAS_EMMG_ERR_TOO_MANY_STREAMS_CHANNEL     0x0008
#define CAS_EMMG_ERR_TOO_MANY_STREAMS_MUX         0x0009
#define CAS_EMMG_ERR_UNKNOWN_PARAM_TYPE           0x000A
#define CAS_EMMG_ERR_INCONSISTENT_PARAM_LENGTH    0x000B
#define CAS_EMMG_ERR_MISSING_PARAM                0x000C
#define CAS_EMMG_ERR_INVALID_PARAM_VALUE          0x000D
#define CAS_EMMG_ERR_UNKNOWN_CLIENT_ID            0x000E
#define CAS_EMMG_ERR_EXCEEDED_BANDWIDTH           0x000F
#define CAS_EMMG_ERR_UNKNOWN_DATA_ID              0x0010
#define CAS_EMMG_ERR_DATA_CHANNEL_ID_IN_USE       0x0011
#define CAS_EMMG_ERR_DATA_STREAM_ID_IN_USE        0x0012
#define CAS_EMMG_ERR_DATA_ID_IN_USE               0x0013
#define CAS_EMMG_ERR_CLIENT_ID_IN_USE             0x0014
#define CAS_EMMG_ERR_UNKNOWN_ERROR                0x7000
#define CAS_EMMG_ERR_UNRECOVERABLE                0x7001

/* The interface a message type belongs to, from its range (as Wireshark
 * does, simulcrypt.md §1.1), or CAS_SC_NONE. */
enum cas_sc_iface cas_simulcrypt_iface_of(uint16_t msg_type);
/* "ECMG<=>SCS", "EMMG<=>MUX" or "unknown interface" */
const char *cas_simulcrypt_iface_name(enum cas_sc_iface iface);

/* Names for logs; each returns a static string, never NULL:
 *   message:   "CW_provision", "data_provision", or "unknown message_type"
 *   parameter: "ECM_channel_id", "client_id", or "unknown parameter_type"
 *   error:     "unknown ECM_channel_id value", or "DVB reserved" /
 *              "user defined" for the unassigned ranges.
 * Log them as "0x%04X %s" (code then name), e.g.
 *   "0x0006 unknown ECM_channel_id value". */
const char *cas_simulcrypt_msg_name(enum cas_sc_iface iface, uint16_t msg_type);
const char *cas_simulcrypt_param_name(enum cas_sc_iface iface, uint16_t param_type);
const char *cas_simulcrypt_error_name(enum cas_sc_iface iface, uint16_t status);

/* The interface-specific codes of the generic validation errors (§4):
 * inconsistent length (ECMG 0x000F, EMMG 0x000B), missing mandatory
 * parameter (ECMG 0x0010, EMMG 0x000C), unknown parameter_type (ECMG
 * 0x000E, EMMG 0x000A).  0 for CAS_SC_NONE. */
uint16_t cas_simulcrypt_err_param_length(enum cas_sc_iface iface);
uint16_t cas_simulcrypt_err_missing_param(enum cas_sc_iface iface);
uint16_t cas_simulcrypt_err_unknown_param(enum cas_sc_iface iface);

#endif
