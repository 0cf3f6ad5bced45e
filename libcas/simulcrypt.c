/* SimulCrypt name tables for logs (reference/simulcrypt.md §2-§4). */
#include "simulcrypt.h"

#include <stddef.h>

struct name {
	uint16_t code;
	const char *name;
};

static const char *lookup(const struct name *t, size_t n, uint16_t code, const char *dflt)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].code == code)
			return t[i].name;
	return dflt;
}

#define N(t) (sizeof(t) / sizeof((t)[0]))

static const struct name ecmg_msgs[] = {
	{ CAS_ECMG_MSG_CHANNEL_SETUP, "channel_setup" },
	{ CAS_ECMG_MSG_CHANNEL_TEST, "channel_test" },
	{ CAS_ECMG_MSG_CHANNEL_STATUS, "channel_status" },
	{ CAS_ECMG_MSG_CHANNEL_CLOSE, "channel_close" },
	{ CAS_ECMG_MSG_CHANNEL_ERROR, "channel_error" },
	{ CAS_ECMG_MSG_STREAM_SETUP, "stream_setup" },
	{ CAS_ECMG_MSG_STREAM_TEST, "stream_test" },
	{ CAS_ECMG_MSG_STREAM_STATUS, "stream_status" },
	{ CAS_ECMG_MSG_STREAM_CLOSE_REQUEST, "stream_close_request" },
	{ CAS_ECMG_MSG_STREAM_CLOSE_RESPONSE, "stream_close_response" },
	{ CAS_ECMG_MSG_STREAM_ERROR, "stream_error" },
	{ CAS_ECMG_MSG_CW_PROVISION, "CW_provision" },
	{ CAS_ECMG_MSG_ECM_RESPONSE, "ECM_response" },
};

static const struct name emmg_msgs[] = {
	{ CAS_EMMG_MSG_CHANNEL_SETUP, "channel_setup" },
	{ CAS_EMMG_MSG_CHANNEL_TEST, "channel_test" },
	{ CAS_EMMG_MSG_CHANNEL_STATUS, "channel_status" },
	{ CAS_EMMG_MSG_CHANNEL_CLOSE, "channel_close" },
	{ CAS_EMMG_MSG_CHANNEL_ERROR, "channel_error" },
	{ CAS_EMMG_MSG_STREAM_SETUP, "stream_setup" },
	{ CAS_EMMG_MSG_STREAM_TEST, "stream_test" },
	{ CAS_EMMG_MSG_STREAM_STATUS, "stream_status" },
	{ CAS_EMMG_MSG_STREAM_CLOSE_REQUEST, "stream_close_request" },
	{ CAS_EMMG_MSG_STREAM_CLOSE_RESPONSE, "stream_close_response" },
	{ CAS_EMMG_MSG_STREAM_ERROR, "stream_error" },
	{ CAS_EMMG_MSG_STREAM_BW_REQUEST, "stream_BW_request" },
	{ CAS_EMMG_MSG_STREAM_BW_ALLOCATION, "stream_BW_allocation" },
	{ CAS_EMMG_MSG_DATA_PROVISION, "data_provision" },
};

static const struct name ecmg_params[] = {
	{ CAS_ECMG_PARAM_SUPER_CAS_ID, "Super_CAS_id" },
	{ CAS_ECMG_PARAM_SECTION_TSPKT_FLAG, "section_TSpkt_flag" },
	{ CAS_ECMG_PARAM_DELAY_START, "delay_start" },
	{ CAS_ECMG_PARAM_DELAY_STOP, "delay_stop" },
	{ CAS_ECMG_PARAM_TRANSITION_DELAY_START, "transition_delay_start" },
	{ CAS_ECMG_PARAM_TRANSITION_DELAY_STOP, "transition_delay_stop" },
	{ CAS_ECMG_PARAM_ECM_REP_PERIOD, "ECM_rep_period" },
	{ CAS_ECMG_PARAM_MAX_STREAMS, "max_streams" },
	{ CAS_ECMG_PARAM_MIN_CP_DURATION, "min_CP_duration" },
	{ CAS_ECMG_PARAM_LEAD_CW, "lead_CW" },
	{ CAS_ECMG_PARAM_CW_PER_MSG, "CW_per_msg" },
	{ CAS_ECMG_PARAM_MAX_COMP_TIME, "max_comp_time" },
	{ CAS_ECMG_PARAM_ACCESS_CRITERIA, "access_criteria" },
	{ CAS_ECMG_PARAM_ECM_CHANNEL_ID, "ECM_channel_id" },
	{ CAS_ECMG_PARAM_ECM_STREAM_ID, "ECM_stream_id" },
	{ CAS_ECMG_PARAM_NOMINAL_CP_DURATION, "nominal_CP_duration" },
	{ CAS_ECMG_PARAM_ACCESS_CRITERIA_TRANSFER_MODE, "access_criteria_transfer_mode" },
	{ CAS_ECMG_PARAM_CP_NUMBER, "CP_number" },
	{ CAS_ECMG_PARAM_CP_DURATION, "CP_duration" },
	{ CAS_ECMG_PARAM_CP_CW_COMBINATION, "CP_CW_combination" },
	{ CAS_ECMG_PARAM_ECM_DATAGRAM, "ECM_datagram" },
	{ CAS_ECMG_PARAM_AC_DELAY_START, "AC_delay_start" },
	{ CAS_ECMG_PARAM_AC_DELAY_STOP, "AC_delay_stop" },
	{ CAS_ECMG_PARAM_CW_ENCRYPTION, "CW_encryption" },
	{ CAS_ECMG_PARAM_ECM_ID, "ECM_id" },
	{ CAS_ECMG_PARAM_ERROR_STATUS, "error_status" },
	{ CAS_ECMG_PARAM_ERROR_INFORMATION, "error_information" },
};

static const struct name emmg_params[] = {
	{ CAS_EMMG_PARAM_CLIENT_ID, "client_id" },
	{ CAS_EMMG_PARAM_SECTION_TSPKT_FLAG, "section_TSpkt_flag" },
	{ CAS_EMMG_PARAM_DATA_CHANNEL_ID, "data_channel_id" },
	{ CAS_EMMG_PARAM_DATA_STREAM_ID, "data_stream_id" },
	{ CAS_EMMG_PARAM_DATAGRAM, "datagram" },
	{ CAS_EMMG_PARAM_BANDWIDTH, "bandwidth" },
	{ CAS_EMMG_PARAM_DATA_TYPE, "data_type" },
	{ CAS_EMMG_PARAM_DATA_ID, "data_id" },
	{ CAS_EMMG_PARAM_ERROR_STATUS, "error_status" },
	{ CAS_EMMG_PARAM_ERROR_INFORMATION, "error_information" },
};

static const struct name ecmg_errors[] = {
	{ 0x0001, "invalid message" },
	{ 0x0002, "unsupported protocol version" },
	{ 0x0003, "unknown message_type value" },
	{ 0x0004, "message too long" },
	{ 0x0005, "unknown Super_CAS_id value" },
	{ 0x0006, "unknown ECM_channel_id value" },
	{ 0x0007, "unknown ECM_stream_id value" },
	{ 0x0008, "too many channels on this ECMG" },
	{ 0x0009, "too many ECM streams on this channel" },
	{ 0x000A, "too many ECM streams on this ECMG" },
	{ 0x000B, "not enough control words to compute ECM" },
	{ 0x000C, "ECMG out of storage capacity" },
	{ 0x000D, "ECMG out of computational resources" },
	{ 0x000E, "unknown parameter_type value" },
	{ 0x000F, "inconsistent length for DVB parameter" },
	{ 0x0010, "missing mandatory DVB parameter" },
	{ 0x0011, "invalid value for DVB parameter" },
	{ 0x0012, "unknown ECM_id value" },
	{ 0x0013, "ECM_channel_id value already in use" },
	{ 0x0014, "ECM_stream_id value already in use" },
	{ 0x0015, "ECM_id value already in use" },
	{ 0x7000, "unknown error" },
	{ 0x7001, "unrecoverable error" },
};

static const struct name emmg_errors[] = {
	{ 0x0001, "invalid message" },
	{ 0x0002, "unsupported protocol version" },
	{ 0x0003, "unknown message_type value" },
	{ 0x0004, "message too long" },
	{ 0x0005, "unknown data_stream_id value" },
	{ 0x0006, "unknown data_channel_id value" },
	{ 0x0007, "too many channels on this MUX" },
	{ 0x0008, "too many data streams on this channel" },
	{ 0x0009, "too many data streams on this MUX" },
	{ 0x000A, "unknown parameter_type" },
	{ 0x000B, "inconsistent length for DVB parameter" },
	{ 0x000C, "missing mandatory DVB parameter" },
	{ 0x000D, "invalid value for DVB parameter" },
	{ 0x000E, "unknown client_id value" },
	{ 0x000F, "exceeded bandwidth" },
	{ 0x0010, "unknown data_id value" },
	{ 0x0011, "data_channel_id value already in use" },
	{ 0x0012, "data_stream_id value already in use" },
	{ 0x0013, "data_id value already in use" },
	{ 0x0014, "client_id value already in use" },
	{ 0x7000, "unknown error" },
	{ 0x7001, "unrecoverable error" },
};

enum cas_sc_iface cas_simulcrypt_iface_of(uint16_t msg_type)
{
	/* Ranges of TS 103 197 as Wireshark splits them: the low nibble group
	 * 0x00-0x0F is ECMG, 0x10-0x1F EMMG, in the channel (0x00xx), stream
	 * (0x01xx) and data (0x02xx) blocks. */
	if (msg_type > 0x021F || (msg_type & 0x00E0) != 0)
		return CAS_SC_NONE;
	if ((msg_type >> 8) > 2)
		return CAS_SC_NONE;
	return (msg_type & 0x0010) != 0 ? CAS_SC_EMMG : CAS_SC_ECMG;
}

const char *cas_simulcrypt_iface_name(enum cas_sc_iface iface)
{
	switch (iface) {
	case CAS_SC_ECMG:
		return "ECMG<=>SCS";
	case CAS_SC_EMMG:
		return "EMMG<=>MUX";
	case CAS_SC_NONE:
		break;
	}
	return "unknown interface";
}

const char *cas_simulcrypt_msg_name(enum cas_sc_iface iface, uint16_t msg_type)
{
	const char *dflt = "unknown message_type";
	if (iface == CAS_SC_ECMG)
		return lookup(ecmg_msgs, N(ecmg_msgs), msg_type, dflt);
	if (iface == CAS_SC_EMMG)
		return lookup(emmg_msgs, N(emmg_msgs), msg_type, dflt);
	return dflt;
}

const char *cas_simulcrypt_param_name(enum cas_sc_iface iface, uint16_t param_type)
{
	const char *dflt = "unknown parameter_type";
	if (iface == CAS_SC_ECMG)
		return lookup(ecmg_params, N(ecmg_params), param_type, dflt);
	if (iface == CAS_SC_EMMG)
		return lookup(emmg_params, N(emmg_params), param_type, dflt);
	return dflt;
}

const char *cas_simulcrypt_error_name(enum cas_sc_iface iface, uint16_t status)
{
	/* TS 103 197: 0x8000-0xFFFF are ECMG/MUX specific (user defined);
	 * everything else unassigned is DVB reserved. */
	const char *dflt = status >= 0x8000 ? "user defined" : "DVB reserved";
	if (iface == CAS_SC_ECMG)
		return lookup(ecmg_errors, N(ecmg_errors), status, dflt);
	if (iface == CAS_SC_EMMG)
		return lookup(emmg_errors, N(emmg_errors), status, dflt);
	return dflt;
}

uint16_t cas_simulcrypt_err_param_length(enum cas_sc_iface iface)
{
	return iface == CAS_SC_ECMG ? CAS_ECMG_ERR_INCONSISTENT_PARAM_LENGTH
	     : iface == CAS_SC_EMMG ? CAS_EMMG_ERR_INCONSISTENT_PARAM_LENGTH : 0;
}

uint16_t cas_simulcrypt_err_missing_param(enum cas_sc_iface iface)
{
	return iface == CAS_SC_ECMG ? CAS_ECMG_ERR_MISSING_PARAM
	     : iface == CAS_SC_EMMG ? CAS_EMMG_ERR_MISSING_PARAM : 0;
}

uint16_t cas_simulcrypt_err_unknown_param(enum cas_sc_iface iface)
{
	return iface == CAS_SC_ECMG ? CAS_ECMG_ERR_UNKNOWN_PARAM_TYPE
	     : iface == CAS_SC_EMMG ? CAS_EMMG_ERR_UNKNOWN_PARAM_TYPE : 0;
}
