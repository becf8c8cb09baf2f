"""A pytm threat model of a connected infusion pump system (fixture for medthreat's pytm import).

Run it as any pytm script, e.g. ``python infusion_pump_tm.py --json infusion_pump.json``;
``build()`` returns the TM without processing it (the notebook route).
"""

from pytm import (
    TM,
    Actor,
    Boundary,
    Classification,
    Data,
    Dataflow,
    Datastore,
    DatastoreType,
    ExternalEntity,
    Lambda,
    Lifetime,
    Process,
    Server,
    TLSVersion,
)


def build() -> TM:
    """Build the model from a fresh pytm state and return its TM."""
    TM.reset()
    tm = TM(
        "Connected infusion pump",
        description="Ward infusion pumps upload infusion records to the vendor cloud, which "
        "forwards alarms to clinicians' pagers and receives orders from the hospital EHR.",
        assumptions=["The ward network is a dedicated VLAN"],
    )
    ward = Boundary("Hospital ward network")
    cloud = Boundary("Vendor cloud")
    vpc = Boundary("Production VPC", inBoundary=cloud)
    integration = Boundary("Integration zone", inBoundary=ward)
    paging = Boundary("Zone 7")

    nurse = Actor("Ward nurse", inBoundary=ward)
    pump = Process("Infusion pump", inBoundary=ward)
    pump.controls.sanitizesInput = True
    pump.controls.checksInputBounds = True
    api = Server("Pump cloud API", inBoundary=vpc, protocol="HTTPS", port=443)
    api.controls.isHardened = True
    api.controls.isEncrypted = True
    db = Datastore("Infusion records DB", inBoundary=vpc, protocol="SQL", port=5432,
                   storesPII=True, type=DatastoreType.SQL)
    db.controls.isEncryptedAtRest = True
    alarms = Lambda("Alarm forwarding function", inBoundary=cloud, protocol="MQTT")
    alarms.controls.isEncrypted = True
    ehr = ExternalEntity("Hospital EHR", inBoundary=integration)
    pager = ExternalEntity("Pager gateway", inBoundary=paging, protocol="Zigbee")

    records = Data("Infusion records", description="Rates, volumes and alarms per patient",
                   classification=Classification.SENSITIVE, isPII=True, isStored=True)
    orders = Data("Infusion orders", classification=Classification.RESTRICTED)
    token = Data("Device API token", isCredentials=True, credentialsLife=Lifetime.SHORT)

    Dataflow(nurse, pump, "Program infusion", protocol="Local UI", data=orders)
    upload = Dataflow(pump, api, "Upload infusion records", protocol="HTTPS", dstPort=443,
                      data=[records, token], tlsVersion=TLSVersion.TLSv12)
    upload.controls.isEncrypted = True
    upload.controls.authenticatesSource = True
    upload.controls.authenticationScheme = "mTLS"
    Dataflow(api, db, "Store records", protocol="SQL", dstPort=5432, data=records)
    events = Dataflow(api, alarms, "Alarm events", protocol="MQTT", dstPort=8883)
    events.controls.isEncrypted = True
    Dataflow(alarms, pager, "Page clinician", protocol="Zigbee")
    Dataflow(ehr, pump, "Infusion orders", protocol="HL7", data=orders)
    return tm


if __name__ == "__main__":
    build().process()
