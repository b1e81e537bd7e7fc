/*-------------------------------------------------------------------------
 *
 * decode.c
 *	  The code lists of the TRUST and CIF feeds, decoded to text.
 *
 * The talk decodes these with long CASE expressions in ksqlDB; here each list
 * is a table, used both by the transforms (so a schedule row carries its
 * decoded power type) and by the SQL functions decode_power_type() and
 * friends (so users can decode codes of their own).  The texts are those of
 * the Open Rail Data wiki's CIF code pages, as the talk uses them.
 *
 * Copyright (c) 2026, rail_stream developers
 *
 * IDENTIFICATION
 *	  src/decode.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "decode.h"

typedef struct RsCode
{
	const char *code;
	const char *text;
} RsCode;

static const RsCode power_types[] = {
	{"D", "Diesel"},
	{"DEM", "Diesel Electric Multiple Unit"},
	{"DMU", "Diesel Mechanical Multiple Unit"},
	{"E", "Electric"},
	{"ED", "Electro-Diesel"},
	{"EML", "EMU plus D, E, ED locomotive"},
	{"EMU", "Electric Multiple Unit"},
	{"HST", "High Speed Train"},
	{NULL, NULL}
};

static const RsCode train_statuses[] = {
	{"B", "Bus (Permanent)"},
	{"F", "Freight (Permanent - WTT)"},
	{"P", "Passenger & Parcels (Permanent - WTT)"},
	{"S", "Ship (Permanent)"},
	{"T", "Trip (Permanent)"},
	{"1", "STP Passenger & Parcels"},
	{"2", "STP Freight"},
	{"3", "STP Trip"},
	{"4", "STP Ship"},
	{"5", "STP Bus"},
	{NULL, NULL}
};

static const RsCode train_categories[] = {
	{"OL", "Ordinary Passenger Trains: London Underground/Metro Service"},
	{"OU", "Ordinary Passenger Trains: Unadvertised Ordinary Passenger"},
	{"OO", "Ordinary Passenger Trains: Ordinary Passenger"},
	{"OS", "Ordinary Passenger Trains: Staff Train"},
	{"OW", "Ordinary Passenger Trains: Mixed"},
	{"XC", "Express Passenger Trains: Channel Tunnel"},
	{"XD", "Express Passenger Trains: Sleeper (Europe Night Services)"},
	{"XI", "Express Passenger Trains: International"},
	{"XR", "Express Passenger Trains: Motorail"},
	{"XU", "Express Passenger Trains: Unadvertised Express"},
	{"XX", "Express Passenger Trains: Express Passenger"},
	{"XZ", "Express Passenger Trains: Sleeper (Domestic)"},
	{"BR", "Buses & Ships: Bus - Replacement due to engineering work"},
	{"BS", "Buses & Ships: Bus - WTT Service"},
	{"SS", "Buses & Ships: Ship"},
	{"EE", "Empty Coaching Stock Trains: Empty Coaching Stock (ECS)"},
	{"EL", "Empty Coaching Stock Trains: ECS, London Underground/Metro Service"},
	{"ES", "Empty Coaching Stock Trains: ECS & Staff"},
	{"JJ", "Parcels and Postal Trains: Postal"},
	{"PM", "Parcels and Postal Trains: Post Office Controlled Parcels"},
	{"PP", "Parcels and Postal Trains: Parcels"},
	{"PV", "Parcels and Postal Trains: Empty NPCCS"},
	{"DD", "Departmental Trains: Departmental"},
	{"DH", "Departmental Trains: Civil Engineer"},
	{"DI", "Departmental Trains: Mechanical & Electrical Engineer"},
	{"DQ", "Departmental Trains: Stores"},
	{"DT", "Departmental Trains: Test"},
	{"DY", "Departmental Trains: Signal & Telecommunications Engineer"},
	{"ZB", "Light Locomotives: Locomotive & Brake Van"},
	{"ZZ", "Light Locomotives: Light Locomotive"},
	{"J2", "Railfreight Distribution: RfD Automotive (Components)"},
	{"H2", "Railfreight Distribution: RfD Automotive (Vehicles)"},
	{"J3", "Railfreight Distribution: RfD Edible Products (UK Contracts)"},
	{"J4", "Railfreight Distribution: RfD Industrial Minerals (UK Contracts)"},
	{"J5", "Railfreight Distribution: RfD Chemicals (UK Contracts)"},
	{"J6", "Railfreight Distribution: RfD Building Materials (UK Contracts)"},
	{"J8", "Railfreight Distribution: RfD General Merchandise (UK Contracts)"},
	{"H8", "Railfreight Distribution: RfD European"},
	{"J9", "Railfreight Distribution: RfD Freightliner (Contracts)"},
	{"H9", "Railfreight Distribution: RfD Freightliner (Other)"},
	{"A0", "Trainload Freight: Coal (Distributive)"},
	{"E0", "Trainload Freight: Coal (Electricity) MGR"},
	{"B0", "Trainload Freight: Coal (Other) and Nuclear"},
	{"B1", "Trainload Freight: Metals"},
	{"B4", "Trainload Freight: Aggregates"},
	{"B5", "Trainload Freight: Domestic and Industrial Waste"},
	{"B6", "Trainload Freight: Building Materials (TLF)"},
	{"B7", "Trainload Freight: Petroleum Products"},
	{"H0", "Railfreight Distribution (Channel Tunnel): RfD European Channel Tunnel (Mixed Business)"},
	{"H1", "Railfreight Distribution (Channel Tunnel): RfD European Channel Tunnel Intermodal"},
	{"H3", "Railfreight Distribution (Channel Tunnel): RfD European Channel Tunnel Automotive"},
	{"H4", "Railfreight Distribution (Channel Tunnel): RfD European Channel Tunnel Contract Services"},
	{"H5", "Railfreight Distribution (Channel Tunnel): RfD European Channel Tunnel Haulmark"},
	{"H6", "Railfreight Distribution (Channel Tunnel): RfD European Channel Tunnel Joint Venture"},
	{NULL, NULL}
};

/* CIF_train_class: blank means first and standard, as "B" does */
static const RsCode seating_classes[] = {
	{"B", "First and standard"},
	{"", "First and standard"},
	{"S", "Standard only"},
	{NULL, NULL}
};

static const RsCode sleepers[] = {
	{"B", "First and standard class"},
	{"F", "First Class only"},
	{"S", "Standard class only"},
	{NULL, NULL}
};

static const RsCode reservations[] = {
	{"A", "Reservations compulsory"},
	{"E", "Reservations for bicycles essential"},
	{"R", "Reservations recommended"},
	{"S", "Reservations possible from any station"},
	{NULL, NULL}
};

static const struct
{
	const char *name;
	const RsCode *codes;
}			code_lists[] = {
	[RS_CODES_POWER_TYPE] = {"power type", power_types},
	[RS_CODES_TRAIN_STATUS] = {"train status", train_statuses},
	[RS_CODES_TRAIN_CATEGORY] = {"train category", train_categories},
	[RS_CODES_SEATING_CLASS] = {"seating class", seating_classes},
	[RS_CODES_SLEEPERS] = {"sleepers", sleepers},
	[RS_CODES_RESERVATIONS] = {"reservations", reservations},
};

/*
 * rs_decode
 *		The text for code in list, or NULL when code is NULL or unlisted.
 */
const char *
rs_decode(RsCodeList list, const char *code)
{
	const RsCode *c;

	if (code == NULL)
		return NULL;
	for (c = code_lists[list].codes; c->code != NULL; c++)
	{
		if (strcmp(c->code, code) == 0)
			return c->text;
	}
	return NULL;
}

const char *
rs_code_list_name(RsCodeList list)
{
	return code_lists[list].name;
}

/*
 * rs_variation_text
 *		The talk's VARIATION column: "ON TIME", "5 MINS LATE", "2 MINS EARLY";
 *		NULL for any other status (OFF ROUTE).
 */
char *
rs_variation_text(const char *status, int minutes)
{
	if (status == NULL)
		return NULL;
	if (strcmp(status, "ON TIME") == 0)
		return pstrdup("ON TIME");
	if (strcmp(status, "LATE") == 0)
		return psprintf("%d MINS LATE", minutes);
	if (strcmp(status, "EARLY") == 0)
		return psprintf("%d MINS EARLY", minutes);
	return NULL;
}

/*
 * rs_late_ind
 *		The talk's LATE_IND: true for LATE, false for ON TIME and EARLY,
 *		NULL (*isnull) otherwise.
 */
bool
rs_late_ind(const char *status, bool *isnull)
{
	*isnull = false;
	if (status != NULL && strcmp(status, "LATE") == 0)
		return true;
	if (status != NULL &&
		(strcmp(status, "ON TIME") == 0 || strcmp(status, "EARLY") == 0))
		return false;
	*isnull = true;
	return false;
}

/*
 * rs_platform_text
 *		"Platform 1" for the feed's space-padded " 1"; NULL when there is no
 *		platform.
 */
char *
rs_platform_text(const char *platform)
{
	const char *p = platform;
	size_t		len;

	if (p == NULL)
		return NULL;
	while (*p == ' ')
		p++;
	len = strlen(p);
	while (len > 0 && p[len - 1] == ' ')
		len--;
	if (len == 0)
		return NULL;
	return psprintf("Platform %.*s", (int) len, p);
}

/*
 * rs_correct_schedule_type
 *		Undo the activation feed's documented swap of the STP indicators:
 *		schedule_type "O" means a permanent schedule and "P" an overlay.
 */
const char *
rs_correct_schedule_type(const char *schedule_type)
{
	if (schedule_type == NULL)
		return NULL;
	if (strcmp(schedule_type, "O") == 0)
		return "P";
	if (strcmp(schedule_type, "P") == 0)
		return "O";
	return schedule_type;
}

/*
 * rs_schedule_key
 *		The schedule key "uid/start_date/stp_indicator", or NULL when any part
 *		is missing.
 */
char *
rs_schedule_key(const char *train_uid, const char *start_date,
				const char *stp_indicator)
{
	if (train_uid == NULL || start_date == NULL || stp_indicator == NULL)
		return NULL;
	return psprintf("%s/%s/%s", train_uid, start_date, stp_indicator);
}
